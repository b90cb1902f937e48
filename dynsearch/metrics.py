"""Loss and metric of a model on data: cross entropy and accuracy (classification), squared error
and R² (regression), for one model or K packed models at once."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["batch_loss", "split_metrics", "evaluate", "metric_name"]


def metric_name(task: str) -> str:
    """The metric a task is scored by: accuracy (classification) or r2 (regression)."""
    return "accuracy" if task == "classification" else "r2"


def batch_loss(output: Tensor, target: Tensor, task: str) -> Tensor:
    """Mean loss of a batch: cross entropy (classification) or squared error (regression).

    ``target`` is ``[B]``, or ``[K, B]`` with ``output`` ``[K, B, ...]`` for K models at once
    (the packed trainer), which gives K losses.
    """
    if task == "classification":
        if target.dim() == 1:
            return F.cross_entropy(output, target)
        per_row = F.cross_entropy(output.reshape(target.numel(), -1), target.reshape(-1), reduction="none")
        return per_row.view(target.shape).mean(-1)
    return (output.reshape(target.shape) - target).pow(2).mean(-1)


def split_metrics(outputs: Tensor, y: Tensor, task: str) -> tuple[list[float], list[float]]:
    """(loss, metric) of K models' ``outputs`` ``[K, n, ...]`` on one split: accuracy for
    classification, R² for regression (0 when the targets do not vary)."""
    k = outputs.shape[0]
    losses = batch_loss(outputs, y.expand(k, *y.shape), task).tolist()
    if task == "classification":
        return losses, (outputs.argmax(dim=-1) == y).double().mean(-1).tolist()
    total = float(((y - y.mean()) ** 2).sum())
    residuals = ((y - outputs.reshape(k, -1)) ** 2).sum(-1).tolist()
    return losses, [1.0 - r / total if total > 0 else 0.0 for r in residuals]


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, task: str, batch_size: int = 4096) -> tuple[float, float]:
    """(loss, metric) on a split: accuracy for classification, R² for regression."""
    model.eval()
    if x.shape[0] <= batch_size:
        outputs = model(x)
    else:
        outputs = torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    losses, metrics = split_metrics(outputs.unsqueeze(0), y, task)
    return losses[0], metrics[0]
