"""optuna-dashboard on a study's storage: live plots of a running search in the browser.

``serve(storage_url)`` binds first (so a busy port is an error before anything is printed), prints
the URL, then serves until Ctrl-C or SIGTERM. It binds to loopback by default: the dashboard has no
authentication and lets its users edit notes and trial states, so binding to every interface
(``0.0.0.0`` or ``::``) prints a warning.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any, Callable, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

__all__ = ["DashboardServer", "make_server", "serve", "dashboard_url", "is_public_host", "DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def is_public_host(host: str) -> bool:
    """Whether ``host`` binds every interface (reachable from other machines)."""
    return host in ("0.0.0.0", "::", "") or host.strip("[]") in ("0.0.0.0", "::")


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host.strip("[]")), ipaddress.IPv6Address)
    except ValueError:
        return False


def dashboard_url(host: str, port: int, study_id: int | None = None) -> str:
    """The URL to open (loopback for a wildcard bind; IPv6 in brackets)."""
    shown = host.strip("[]")
    if shown in ("0.0.0.0", ""):
        shown = "127.0.0.1"
    elif shown == "::":
        shown = "::1"
    if _is_ipv6(shown):
        shown = f"[{shown}]"
    path = "/dashboard/" if study_id is None else f"/dashboard/studies/{study_id}"
    return f"http://{shown}:{port}{path}"


class _QuietHandler(WSGIRequestHandler):
    """No line per request on stderr (the dashboard polls every few seconds)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the browser went away mid-response
            pass


class DashboardServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _DashboardServer6(DashboardServer):
    address_family = socket.AF_INET6


def make_server(storage: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> DashboardServer:
    """A bound (not yet serving) server for optuna-dashboard's WSGI app on ``storage``.

    Raises:
        OSError: the address cannot be bound (port in use, unknown host, …).
    """
    # optuna-dashboard loads on first use: a search worker that does not need it never imports it
    from optuna_dashboard import wsgi

    app = wsgi(storage)
    server_class = _DashboardServer6 if _is_ipv6(host) else DashboardServer
    server = server_class((host.strip("[]"), port), _QuietHandler)
    server.set_app(app)
    return server


@dataclass
class ServeInfo:
    url: str
    host: str
    port: int


def serve(
    storage: Any,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    study_id: int | None = None,
    storage_label: str = "",
    out: TextIO | None = None,
    err: TextIO | None = None,
    ready: Callable[[ServeInfo], None] | None = None,
) -> int:
    """Serve the dashboard until Ctrl-C/SIGTERM; returns 0 after a clean stop.

    Raises:
        OSError: the address cannot be bound.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    server = make_server(storage, host, port)
    bound_port = server.server_address[1]
    url = dashboard_url(host, bound_port, study_id)
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
    # From the first line printed on, Ctrl-C/SIGTERM means a clean stop: a caller that waits for
    # "press Ctrl-C to stop" and then interrupts must never race the set-up.
    try:
        if is_public_host(host):
            print(
                f"warning: the dashboard listens on every interface ({host}) without authentication: anyone who "
                f"can reach port {bound_port} can read the studies and edit their notes and trials; use --host "
                "127.0.0.1 (the default) and an SSH tunnel instead",
                file=err,
                flush=True,
            )
        print(f"dashboard: {url}", file=out, flush=True)
        if storage_label:
            print(f"storage: {storage_label}", file=out, flush=True)
        print("press Ctrl-C to stop", file=out, flush=True)
        if ready is not None:
            ready(ServeInfo(url, host, bound_port))
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("dashboard stopped", file=out, flush=True)
    return 0
