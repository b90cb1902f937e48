"""The shared fixtures really work: a reachable, loopback-only, password-protected PostgreSQL and a live Chromium."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from pg_server import PostgresServer, to_libpq


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN state on `port`, read from /proc/net/tcp{,6} (Linux)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            addr_hex, port_hex = fields[1].split(":")
            if int(port_hex, 16) != port or fields[3] != "0A":  # 0A = LISTEN
                continue
            if len(addr_hex) == 8:  # IPv4, little-endian
                found.add(".".join(str(int(addr_hex[i : i + 2], 16)) for i in (6, 4, 2, 0)))
            else:
                found.add(f"ipv6:{addr_hex}")
    return found


def test_postgres_select_one(postgres_url: str) -> None:
    with psycopg.connect(to_libpq(postgres_url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("dynsearch", "dynsearch_test")


def test_postgres_url_shape(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    assert parts.scheme == "postgresql+psycopg"
    assert parts.hostname == "127.0.0.1"
    assert parts.username == "dynsearch"
    assert parts.password is not None and parts.password.startswith("s3cr3t-pw-")
    assert parts.path == "/dynsearch_test"


def test_postgres_listens_on_loopback_only(postgres_url: str) -> None:
    with psycopg.connect(to_libpq(postgres_url)) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    port = urlsplit(postgres_url).port
    assert port is not None
    if Path("/proc/net/tcp").exists():
        assert _listening_addresses(port) == {"127.0.0.1"}


def test_postgres_requires_the_password(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=parts.hostname, port=parts.port, user=parts.username, password="wrong", dbname="dynsearch_test"
        )


def test_fresh_postgres_db_is_new_and_empty(fresh_postgres_db: str, postgres_url: str) -> None:
    assert fresh_postgres_db != postgres_url
    assert urlsplit(fresh_postgres_db).password == urlsplit(postgres_url).password
    with psycopg.connect(to_libpq(fresh_postgres_db)) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
        # The login role owns the database, so it can create Optuna's schema there.
        conn.execute("CREATE TABLE probe (x int)")


def test_drop_database_closes_open_connections(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("dynsearch_dropme")
    conn = psycopg.connect(to_libpq(url))
    try:
        postgres_server.drop_database("dynsearch_dropme")
    finally:
        conn.close()
    with psycopg.connect(to_libpq(postgres_server.url("postgres"))) as admin:
        exists = admin.execute("SELECT count(*) FROM pg_database WHERE datname = 'dynsearch_dropme'").fetchone()
    assert exists == (0,)


def test_postgres_server_repr_hides_password(postgres_server: PostgresServer) -> None:
    assert postgres_server.password not in repr(postgres_server)


def test_to_libpq() -> None:
    assert to_libpq("postgresql+psycopg://u:p@h:1/d") == "postgresql://u:p@h:1/d"
    assert to_libpq("postgresql://u:p@h:1/d") == "postgresql://u:p@h:1/d"


def test_chrome_reads_data_url(chrome) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    chrome.get("data:text/html,<html><body><h1 id='greeting'>hello dynsearch</h1></body></html>")
    assert chrome.find_element(By.ID, "greeting").text == "hello dynsearch"


def test_chrome_runs_script_of_file_page(chrome, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    page = tmp_path / "page.html"
    page.write_text(
        "<!doctype html><html><body><p id='out'>not yet</p>"
        "<script>document.getElementById('out').textContent = String(6 * 7);</script></body></html>"
    )
    chrome.get(page.as_uri())
    assert chrome.find_element(By.ID, "out").text == "42"
