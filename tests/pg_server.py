"""A throwaway PostgreSQL server for tests and benchmarks.

`PostgresServer` runs ``initdb`` into a fresh temporary directory, starts ``postgres`` listening only on
127.0.0.1 (plus a unix socket inside that directory), creates a password-protected login role, and hands out
SQLAlchemy URLs for databases it creates. Everything is removed again by `stop`.

PostgreSQL refuses to run as root, so when the current user is root the server commands run as the ``postgres``
OS user through ``runuser`` and the directory is chowned to it.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

#: Binaries the server needs; `find_pg_bin_dir` looks for a directory holding all of them.
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")

#: Settings that trade crash safety for speed: fine for a server that lives for one test session.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or the OS user to run them as) are missing on this machine."""


def find_pg_bin_dir() -> Path | None:
    """Return a directory containing initdb, pg_ctl and postgres, or None.

    PATH wins; otherwise the newest Debian-style ``/usr/lib/postgresql/<major>/bin``.
    """
    initdb = shutil.which("initdb")
    if initdb:
        # Resolve symlinks (/usr/local/bin wrappers) so the sibling binaries are found together.
        candidate = Path(initdb).resolve().parent
        if all((candidate / name).exists() for name in REQUIRED_BINARIES):
            return candidate
        on_path = [shutil.which(name) for name in REQUIRED_BINARIES]
        if all(on_path):
            return Path(initdb).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else -1,
        reverse=True,
    )
    for directory in versions:
        if all((Path(directory) / name).exists() for name in REQUIRED_BINARIES):
            return Path(directory)
    return None


def to_libpq(url: str) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg://…``) into a libpq one that ``psycopg.connect`` accepts."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def _free_port() -> int:
    """Ask the kernel for a free TCP port on the loopback address (racy, hence the retries in `start`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A private PostgreSQL server in a temporary directory, bound to 127.0.0.1 only.

    Usage::

        with PostgresServer() as server:
            url = server.create_database("bench")   # postgresql+psycopg://dynsearch:…@127.0.0.1:PORT/bench
    """

    superuser = "postgres"

    def __init__(
        self,
        bin_dir: Path | None = None,
        *,
        user: str = "dynsearch",
        fast: bool = True,
        start_timeout: float = 60.0,
    ) -> None:
        """Prepare (not start) a server.

        Args:
            bin_dir: directory with initdb/pg_ctl/postgres; found with `find_pg_bin_dir` when None.
            user: the login role that the URLs use (a non-superuser owning the databases created).
            fast: turn off fsync and friends (leave False when benchmarking the storage itself).
            start_timeout: seconds to wait for the server to accept connections.
        """
        found = bin_dir or find_pg_bin_dir()
        if found is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH "
                "nor under /usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)"
            )
        self.bin_dir = Path(found)
        self.user = user
        # A distinctive password, so tests can grep logs and reports for leaks.
        self.password = f"s3cr3t-pw-{secrets.token_hex(8)}"
        self._superuser_password = secrets.token_hex(16)
        self.fast = fast
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.base_dir: Path | None = None
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, but there is no 'postgres' OS user to run the PostgreSQL server as"
                ) from None
            self._run_as = ["runuser", "-u", "postgres", "--"]

    def __repr__(self) -> str:  # never shows the passwords
        return f"PostgresServer(host={self.host!r}, port={self.port!r}, base_dir={str(self.base_dir)!r})"

    # -- paths ---------------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "postgres.log"

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb, start the server, and create the login role; raises RuntimeError with the log on failure."""
        if self.port is not None:
            return self
        self.base_dir = Path(tempfile.mkdtemp(prefix="dynsearch-pg-", dir=self._temp_root()))
        atexit.register(self.stop)  # a safety net if the caller never reaches its own stop()
        try:
            self._initdb()
            last_error = ""
            for _ in range(3):  # the free port may be taken between probing and binding
                port = _free_port()
                if self._pg_ctl_start(port):
                    self.port = port
                    break
                last_error = self._log_tail()
            else:
                raise RuntimeError(f"PostgreSQL did not start; log tail:\n{last_error}")
            self._wait_ready()
            with self._admin() as conn:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(self.user), sql.Literal(self.password)
                    )
                )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, immediate as a fallback) and delete its directory. Idempotent."""
        base = self.base_dir
        if base is None:
            return
        if (base / "data" / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                result = self._run(
                    [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(base / "data"), "-m", mode, "-w", "-t", "30"],
                    check=False,
                )
                if result.returncode == 0:
                    break
        shutil.rmtree(base, ignore_errors=True)
        self.base_dir = None
        self.port = None
        atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases -----------------------------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) for `dbname` as the login role, e.g. for Optuna's RDB storage."""
        if self.port is None:
            raise RuntimeError("server not started")
        return (
            f"postgresql+psycopg://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname, safe='')}"
        )

    def create_database(self, dbname: str) -> str:
        """Create an empty database owned by the login role and return its URL."""
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(self.user))
            )
        return self.url(dbname)

    def drop_database(self, dbname: str) -> None:
        """Drop a database, closing connections still open on it (e.g. a pool a test forgot to dispose)."""
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))

    # -- internals -----------------------------------------------------------------------------------------

    def _temp_root(self) -> str | None:
        root = tempfile.gettempdir()
        # The postgres user must be able to reach the directory; /tmp always lets it.
        if self._run_as and not os.stat(root).st_mode & 0o001:
            return "/tmp"
        return None

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        # cwd inside our directory: the postgres user may not be allowed into the caller's cwd.
        result = subprocess.run(
            [*self._run_as, *args], cwd=self.base_dir, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def _initdb(self) -> None:
        assert self.base_dir is not None
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self._superuser_password + "\n")
        pwfile.chmod(0o600)
        if self._run_as:
            entry = pwd.getpwnam("postgres")
            for path in (self.base_dir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", self.superuser,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        pwfile.unlink()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.base_dir}'",
            **(FAST_SETTINGS if self.fast else {}),
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# dynsearch test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl_start(self, port: int) -> bool:
        result = self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "start",
                "-D", str(self.data_dir),
                "-l", str(self.log_file),
                "-o", f"-p {port}",
                "-w",
                "-t", str(int(self.start_timeout)),
            ],
            check=False,
        )
        return result.returncode == 0

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _admin(self, dbname: str = "postgres") -> psycopg.Connection:
        """A superuser connection over TCP in autocommit mode (CREATE/DROP DATABASE refuse transactions)."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.superuser,
            password=self._superuser_password,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with self._admin() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL not ready in time; log tail:\n{self._log_tail()}") from None
                time.sleep(0.2)
