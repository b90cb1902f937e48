"""The study's workers as Ray actors: which to start, and the actor that runs the worker loop.

An actor is the same worker as a ``dynsearch worker`` process: it runs ``run_worker`` against the
study's storage, claims queued trials and sends heartbeats. It is threaded (``max_concurrency=2``) so
that ``stop()`` can set the StopFlag while ``run()`` trains; the loop reads the flag before every batch.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from dataclasses import asdict, dataclass
from typing import Any

import optuna

from ..search.runner import WorkerSlot
from ..search.worker import StopFlag, run_worker
from ._connect import require_ray

__all__ = ["ActorSlot", "plan_actors", "worker_actor_class", "MAX_RESTARTS"]

# Ray restarts an actor that died (killed, out of memory, node lost) this often; the driver then calls
# its run() again. A dead actor's trials are failed and re-queued by the usual recovery (heartbeats).
MAX_RESTARTS = 10


@dataclass(frozen=True)
class ActorSlot(WorkerSlot):
    """One worker actor: its slot, plus the share of a GPU Ray reserves for it."""

    num_gpus: float = 0.0

    @property
    def label(self) -> str:
        return f"ray:{self.device}"


def plan_actors(cpus: int, gpus: int, workers: str | int = "auto", per_device: int = 1) -> list[ActorSlot]:
    """One actor per GPU of the cluster (``per_device`` sharing each), else one per CPU; ``workers`` caps it.

    Example:
        >>> [s.num_gpus for s in plan_actors(cpus=8, gpus=2, per_device=2)]
        [0.5, 0.5, 0.5, 0.5]
        >>> len(plan_actors(cpus=16, gpus=0, workers=3)), plan_actors(cpus=2, gpus=0)[0].device
        (3, 'cpu')
    """
    if per_device < 1:
        raise ValueError(f"--per-device: expected an integer >= 1, got {per_device}")
    count = gpus * per_device if gpus else cpus
    if workers != "auto":
        if int(workers) < 1:
            raise ValueError(f"--workers: expected 'auto' or an integer >= 1, got {workers}")
        count = min(count, int(workers))  # more actors than the cluster holds would wait for resources forever
    if gpus:
        return [ActorSlot(i, "cuda", None, 1, num_gpus=1.0 / per_device) for i in range(count)]
    return [ActorSlot(i, "cpu", None, 1) for i in range(count)]


class _WorkerActor:
    """Runs the worker loop of one slot; ``stop()`` ends it within one batch."""

    def __init__(self, study_name: str, storage_url: str, slot: dict[str, Any], options: dict[str, Any]) -> None:
        self._study, self._url, self._slot, self._options = study_name, storage_url, slot, options
        self._flag = StopFlag()  # not installed: signals reach only the main thread, and run() is not on it
        level = options.get("log_level", logging.WARNING)
        logging.basicConfig(level=level, format="%(name)s: %(message)s")
        logging.getLogger("dynsearch").setLevel(level)
        optuna.logging.set_verbosity(level)

    def where(self) -> tuple[str, int]:
        """Host and pid of this actor: what it writes on the trials it claims."""
        return socket.gethostname(), os.getpid()

    def run(self) -> dict[str, Any]:
        result = run_worker(
            self._study, self._url, device=self._slot["device"], threads=self._slot["threads"],
            worker_index=self._slot["index"], deadline=self._options.get("deadline"), stop=self._flag,
            pack=self._options.get("pack"), share=self._options.get("share", 1),
        )  # fmt: skip
        return asdict(result)

    def stop(self) -> None:
        self._flag.signal_name = "stop requested by the driver"
        self._flag.requested = True


@functools.cache
def worker_actor_class() -> Any:
    """``_WorkerActor`` as a Ray actor class (made on first use, so importing this module needs no Ray)."""
    ray = require_ray()
    return ray.remote(max_concurrency=2, max_restarts=MAX_RESTARTS, max_task_retries=0)(_WorkerActor)


def start_actor(slot: ActorSlot, study_name: str, storage_url: str, options: dict[str, Any],
                env_vars: dict[str, str]) -> Any:  # fmt: skip
    """Start the actor of ``slot`` with its CPU and GPU share reserved."""
    cls = worker_actor_class()
    runtime_env = {"env_vars": env_vars} if env_vars else None
    handle = cls.options(num_cpus=1, num_gpus=slot.num_gpus, runtime_env=runtime_env,
                         name=None).remote(study_name, storage_url, asdict(slot), options)  # fmt: skip
    return handle
