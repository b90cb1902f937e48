"""A user's own training loop: a ``DataLoader``, SGD with momentum and a one-cycle learning-rate schedule.

dynsearch builds the model and applies the trial's strategy; this loop trains it and calls ``ctx.adjust``
once per epoch (the strategy's decision) and ``ctx.report`` with the validation metric (the history, the
best weights and the pruner). ``ctx.observe`` feeds the per-network signals when a strategy reads them.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

import dynsearch


def fit(model: torch.nn.Module, data: dynsearch.DatasetSplits, strategy: dynsearch.Strategy,
        ctx: dynsearch.FitContext) -> None:  # fmt: skip
    """Train for ``ctx.config.epochs`` epochs; stop early when ``ctx.report`` says so."""
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=ctx.config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(ctx.seed))  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=ctx.config.lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=ctx.config.lr,
                                                    total_steps=ctx.config.epochs * len(loader))  # fmt: skip
    for epoch in range(ctx.config.epochs):
        model.train()
        for xb, yb in loader:
            if ctx.should_stop():  # Ctrl-C or SIGTERM: return within a batch
                return
            optimizer.zero_grad()
            output = model(xb)
            loss = ctx.loss(output, yb)  # cross-entropy for classes, MSE for regression
            loss.backward()
            optimizer.step()
            scheduler.step()
            ctx.observe(xb, output, yb)
        ctx.adjust(epoch)
        _, metric = ctx.evaluate("val")
        if ctx.report(epoch, metric):
            return
