"""Reach a Ray cluster: the optional import, the address, and what the cluster offers.

Ray is imported here and only when ``--cluster`` is given: it is an optional dependency
(``pip install dynsearch[ray]``) and its import costs seconds, which no other command should pay.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass
from types import ModuleType

from ..search.storage import is_journal, mask_url

__all__ = ["ClusterError", "ClusterInfo", "require_ray", "connect", "check_storage_for_cluster", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'dynsearch[ray]'"
# How long an address may take to answer before it counts as unreachable (Ray itself retries for minutes).
CONNECT_TIMEOUT_SECONDS = 5.0
_HOST_PORT = re.compile(r"^(?:ray://)?(?P<host>\[[^\]]+\]|[^:/\[\]]+):(?P<port>\d{1,5})$")


class ClusterError(ValueError):
    """A cluster that cannot be used as asked: one line, for the CLI's exit code 2."""


@dataclass(frozen=True)
class ClusterInfo:
    """What the connected cluster offers: its live nodes, CPUs and GPUs."""

    address: str
    nodes: int
    cpus: int
    gpus: int


def require_ray() -> ModuleType:
    """``import ray``, or a ClusterError that says how to install it."""
    try:
        import ray  # optional (the ray extra) and seconds to import: loaded only when --cluster asks for it
    except ImportError:
        raise ClusterError(f"--cluster: Ray is not installed; install it with {INSTALL_HINT}") from None
    return ray


def _check_reachable(address: str) -> None:
    """Refuse an address nothing listens on within seconds (``ray.init`` would retry for minutes)."""
    if address == "auto":
        return
    match = _HOST_PORT.match(address)
    if match is None:
        raise ClusterError(f"--cluster: expected auto, HOST:PORT or ray://HOST:PORT, got {address!r}")
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(f"--cluster: no Ray cluster answers at {address} ({reason}); "
                           "start one with 'ray start --head' or pass its address") from None


def connect(address: str, *, log_to_driver: bool = True) -> ClusterInfo:
    """Join the cluster at ``address`` (auto, HOST:PORT of its head, or ray://HOST:PORT of its client server).

    Raises:
        ClusterError: Ray missing, a malformed or unreachable address, or a cluster without CPUs.
    """
    ray = require_ray()
    _check_reachable(address)
    try:
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=log_to_driver, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClusterError(f"--cluster: cannot join the Ray cluster at {address}: {text}") from None
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    resources = ray.cluster_resources()
    info = ClusterInfo(address, len(nodes), int(resources.get("CPU", 0)), int(resources.get("GPU", 0)))
    if info.cpus < 1:
        raise ClusterError(f"--cluster: the Ray cluster at {address} has no CPU to run a worker on")
    return info


def check_storage_for_cluster(storage_url: str, nodes: int) -> None:
    """A journal file lives on one machine: refuse it for a cluster of several nodes.

    Example:
        >>> check_storage_for_cluster("journal:runs/x.journal", 1)
        >>> check_storage_for_cluster("postgresql://db/x", 3)
        >>> check_storage_for_cluster("journal:runs/x.journal", 2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        dynsearch.cluster._connect.ClusterError: --storage: journal:runs/x.journal is a file on this machine, ...
    """
    if nodes > 1 and is_journal(storage_url):
        raise ClusterError(
            f"--storage: {mask_url(storage_url)} is a file on this machine, which the other {nodes - 1} node(s) "
            "of the cluster cannot reach; use a PostgreSQL URL (--storage postgresql://USER@HOST/DB)"
        )
