"""Where studies live: the embedded journal file by default, or any Optuna storage URL.

The journal file (Optuna's ``JournalFileBackend``) is safe for several worker processes on one
machine; SQLite is not. Several machines share a PostgreSQL (or MySQL) URL: RDB storages get
Optuna's heartbeat, so trials of dead workers are failed and retried.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

from ._optuna import open_rdb_storage

__all__ = [
    "StorageError",
    "default_storage_url",
    "resolve_storage_url",
    "mask_url",
    "open_storage",
    "is_journal",
    "budget_lock",
    "grace_period",
    "heartbeat_interval",
    "MAX_RETRY",
]

RUNS_DIR = Path("runs")
# A worker's heartbeat every 10 s; a trial with none for 60 s is failed and retried. The
# environment may shorten both (tests, clusters that want faster recovery); read when used, not at import.


def heartbeat_interval() -> int:
    return int(os.environ.get("DYNSEARCH_HEARTBEAT_INTERVAL", "10"))


def grace_period() -> int:
    return int(os.environ.get("DYNSEARCH_GRACE_PERIOD", "60"))


# Infrastructure failures (a dead worker, an interrupt) are retried this often per trial.
MAX_RETRY = 3

_SCHEMES = ("postgresql", "mysql", "sqlite", "journal", "file")




# pg_advisory_lock key that serializes Optuna's schema creation on one database.
_SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha1(b"dynsearch:optuna-schema").digest()[:7], "big")


class StorageError(ValueError):
    """A storage URL that cannot be used; the message never contains a password."""


def default_storage_url(study_name: str) -> str:
    """``journal:runs/NAME.journal``, relative to the current directory."""
    return f"journal:{RUNS_DIR / (study_name + '.journal')}"


def resolve_storage_url(cli_value: str | None, file_value: str | None, study_name: str) -> str:
    """The storage to use: ``--storage``, then ``DYNSEARCH_STORAGE``, then the study file, then the default."""
    for candidate in (cli_value, os.environ.get("DYNSEARCH_STORAGE"), file_value):
        if candidate:
            return candidate
    return default_storage_url(study_name)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print, log and store)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r":[^:@/]*@", ":***@", url)
    if parts.password is None:
        return url
    # Host and port as written: parsing the port raises on a bad one, and IPv6 hosts keep their brackets.
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def is_journal(url: str) -> bool:
    return url.startswith("journal:") or url.endswith(".journal") or url.endswith(".log")


def _journal_path(url: str) -> Path:
    return Path(url[len("journal:"):] if url.startswith("journal:") else url)


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0].lower() if ":" in url else ""


class _FlockJournalLock:
    """The journal's write lock as an ``flock`` on a side file: the kernel drops it when its holder
    dies, kill -9 included.

    Optuna's default lock is a symlink that a killed writer leaves behind; every other process then
    waits for its 30 s grace period, and forever when the journal path is relative (the link dangles,
    so its age is never read). flock is for processes on one machine, which is what the journal
    storage is for (several machines share PostgreSQL). It has the interface of Optuna's
    ``BaseJournalFileLock``: ``acquire()`` blocks until the lock is held, ``release()`` drops it.
    """

    def __init__(self, lock_path: str) -> None:
        self._lock_path = lock_path
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def check_storage_url(url: str) -> None:
    """Raise StorageError for a URL that no storage understands (before anything is written)."""
    if is_journal(url):
        if not str(_journal_path(url)).strip():
            raise StorageError("storage: a journal storage needs a file path, e.g. journal:runs/NAME.journal")
        return
    scheme = _scheme(url)
    if scheme not in ("postgresql", "mysql", "sqlite"):
        raise StorageError(
            f"storage: unsupported URL {mask_url(url)!r}; expected journal:PATH, postgresql://…, mysql://… or sqlite:///PATH"
        )


def open_storage(url: str, *, heartbeat: bool = True) -> optuna.storages.BaseStorage:
    """Open (creating if needed) the storage behind ``url``.

    Raises:
        StorageError: for an unsupported URL or an unreachable database (password masked).
    """
    check_storage_url(url)
    if is_journal(url):
        path = _journal_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        # An absolute path, and a lock that dies with its holder (see _FlockJournalLock).
        journal = str(path.resolve())
        # Duck-typed: Optuna's BaseJournalFileLock lives in a private module, so not subclassed.
        lock = _FlockJournalLock(journal + ".flock")
        return JournalStorage(JournalFileBackend(journal, lock_obj=lock))  # type: ignore[arg-type]
    if _scheme(url) == "postgresql" and url.startswith("postgresql://"):
        # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3, which is what we ship.
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    # Heartbeats only: stale trials are failed and re-queued by dynsearch's own recovery (with a
    # reason, see study.fail_and_requeue), not by an Optuna callback.
    beat = {"heartbeat_interval": heartbeat_interval() if heartbeat else None, "grace_period": grace_period()}
    kwargs: dict = {"engine_kwargs": {"pool_pre_ping": True}, **beat}
    try:
        if _scheme(url) == "postgresql":
            # Two processes creating the tables of a fresh database at once collide (IntegrityError on
            # pg_type, "relation already exists"): create them one process at a time.
            with _pg_advisory_lock(url, _SCHEMA_LOCK_KEY):
                return open_rdb_storage(url, **kwargs)
        return open_rdb_storage(url, **kwargs)
    except ImportError as exc:
        raise StorageError(f"storage: the driver for {mask_url(url)!r} is not installed ({exc.name})") from None
    except Exception as exc:  # SQLAlchemy raises many kinds; the original text may contain the URL.
        reason = type(exc).__name__
        text = str(exc).splitlines()[0] if str(exc) else ""
        if "password" in text.lower() or "authentication" in text.lower():
            reason = "authentication failed"
        elif "could not connect" in text.lower() or "connection refused" in text.lower() or "timeout" in text.lower():
            reason = "the server is unreachable"
        raise StorageError(f"storage: cannot open {mask_url(url)!r}: {reason}") from None


@contextlib.contextmanager
def _pg_advisory_lock(url: str, key: int) -> Iterator[None]:
    """Hold PostgreSQL advisory lock ``key`` on its own connection (released even if the block raises)."""
    # SQLAlchemy loads on first use: a search worker that does not need it never imports it
    import sqlalchemy

    real = url if not url.startswith("postgresql://") else "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = sqlalchemy.create_engine(real, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def budget_lock(url: str, study_name: str) -> Iterator[None]:
    """Serialize budget top-ups of one study across processes (and machines on PostgreSQL).

    Two ``dynsearch run`` processes starting together must not both enqueue the missing trials.
    """
    if _scheme(url) == "postgresql":
        key = int.from_bytes(hashlib.sha1(study_name.encode()).digest()[:7], "big")
        with _pg_advisory_lock(url, key):
            yield
        return
    if is_journal(url):
        lock_path = _journal_path(url).with_suffix(".lock")
    elif _scheme(url) == "sqlite":
        lock_path = Path(url.split("///", 1)[-1] + ".lock")
    else:
        lock_path = RUNS_DIR / f".{study_name}.lock"  # MySQL: one machine's runs at least
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
