"""Training loops as a user writes them: ``fit(model, data, strategy, ctx)``."""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, TensorDataset

import dynsearch


def fit(model: torch.nn.Module, data: dynsearch.DatasetSplits, strategy: dynsearch.Strategy,
        ctx: dynsearch.FitContext) -> None:  # fmt: skip
    """A DataLoader, SGD with momentum and a cosine learning-rate schedule; dynsearch only adjusts and reports."""
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=ctx.config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(ctx.seed))  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=ctx.config.lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=ctx.config.epochs)
    for epoch in range(ctx.config.epochs):
        model.train()
        for xb, yb in loader:
            if ctx.should_stop():
                return
            optimizer.zero_grad()
            output = model(xb)
            loss = torch.nn.functional.cross_entropy(output, yb)
            loss.backward()
            optimizer.step()
            ctx.observe(xb, output, yb)
        scheduler.step()
        ctx.adjust(epoch)
        _, accuracy = ctx.evaluate("val")
        if ctx.report(epoch, accuracy):
            return


def never_reports(model, data, strategy, ctx) -> None:
    ctx.adjust(0)


def reports_nan(model, data, strategy, ctx) -> None:
    ctx.adjust(0)
    ctx.report(0, math.nan)
