"""Beyond one machine on Ray: ``dynsearch run --cluster`` and ``dynsearch report --cluster``.

Importing this package does not import Ray (an optional dependency, ``pip install dynsearch[ray]``,
whose import alone takes seconds): each function imports it when called and says how to install it
when it is missing.
"""

from __future__ import annotations

from ._actors import ActorSlot, plan_actors
from ._connect import INSTALL_HINT, ClusterError, ClusterInfo, check_storage_for_cluster, connect, require_ray
from ._driver import run_study_on_cluster
from ._joblib import ray_backend

__all__ = [
    "ActorSlot",
    "ClusterError",
    "ClusterInfo",
    "INSTALL_HINT",
    "check_storage_for_cluster",
    "connect",
    "plan_actors",
    "ray_backend",
    "require_ray",
    "run_study_on_cluster",
]
