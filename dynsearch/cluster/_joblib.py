"""The report's re-training on a Ray cluster, through joblib's Ray backend.

``run_jobs`` hands its packs and lone runs to whatever joblib backend is active; inside
``ray_backend`` that is Ray's, so each task runs on some node of the cluster, seeded as locally.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import joblib

from ._connect import ClusterInfo, connect

__all__ = ["ray_backend"]


@contextlib.contextmanager
def ray_backend(address: str) -> Iterator[ClusterInfo]:
    """Join the cluster at ``address`` and make Ray joblib's backend inside the block.

    Raises:
        ClusterError: Ray missing, or the cluster unreachable (before anything is trained or written).
    """
    info = connect(address, log_to_driver=False)
    from ray.util.joblib import register_ray  # Ray's; connect has just imported it

    register_ray()
    with joblib.parallel_backend("ray"):
        yield info
