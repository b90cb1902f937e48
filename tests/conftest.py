"""Shared fixtures: a private PostgreSQL server and a headless Chromium; the kernel variant a run asks for.

Both skip their tests with a reason when the programs are missing on a developer's machine, but fail them when
CI=true: in CI these tests must run, never be skipped silently (`.ci/run` installs what they need).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from pg_server import PostgresServer, PostgresUnavailable

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# --disable-background-networking & co.: the sandbox has no network, and Chromium's own calls home would only be
# refused; --no-sandbox because CI runs as root.
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)

_POSTGRES_FIXTURES = {"postgres_server", "postgres_url", "fresh_postgres_db"}

# DYNSEARCH_TEST_KERNELS runs the suite on other CPU kernels than this machine's defaults, so that a bound
# tuned to one kernel fails here and not on the next machine (tests/test_kernel_variants.py sets it).
KERNEL_VARIANTS = ("no-onednn", "one-thread", "two-threads", "flush-denormal")


def _use_kernel_variant(variant: str) -> None:
    import torch  # only when a variant is asked for: the plain suite leaves torch's defaults alone

    if variant == "no-onednn":
        # torch's reference CPU kernels only: no oneDNN, and the signal sums from tensor operations, not
        # dynsearch's native loop (read at first use, so setting it here reaches every test of the run)
        torch.backends.mkldnn.enabled = False
        os.environ["DYNSEARCH_NATIVE"] = "0"
    elif variant in ("one-thread", "two-threads"):
        torch.set_num_threads(1 if variant == "one-thread" else 2)
    elif variant == "flush-denormal":
        torch.set_flush_denormal(True)
    else:
        raise pytest.UsageError(f"DYNSEARCH_TEST_KERNELS={variant!r}; allowed: {', '.join(KERNEL_VARIANTS)}.")


if os.environ.get("DYNSEARCH_TEST_KERNELS"):
    _use_kernel_variant(os.environ["DYNSEARCH_TEST_KERNELS"])


def _unavailable(reason: str) -> NoReturn:
    """Skip locally, fail in CI (CI=true), so a missing install step never turns into a green run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: tests that need it must run, not be skipped)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the fixtures they use, so `-m "not postgres"` / `-m "not browser"` select them."""
    flushed = os.environ.get("DYNSEARCH_TEST_KERNELS") == "flush-denormal"
    for item in items:
        if flushed and getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            # Hypothesis refuses to draw floats while the CPU flushes subnormals (a process-wide flag).
            item.add_marker(pytest.mark.skip(reason="hypothesis cannot draw floats with subnormals flushed"))
        names = set(getattr(item, "fixturenames", ()))
        if names & _POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if "chrome" in names:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, on 127.0.0.1 and a free port, removed at the end."""
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        _unavailable(str(exc))
    with server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL ``postgresql+psycopg://dynsearch:s3cr3t-pw-…@127.0.0.1:PORT/dynsearch_test`` shared by the session."""
    return postgres_server.create_database("dynsearch_test")


@pytest.fixture
def fresh_postgres_db(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a new, empty database for one test (so Optuna schemas are never shared); dropped afterwards."""
    name = f"dynsearch_t_{secrets.token_hex(6)}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Debian Chromium driven by Selenium through /usr/bin/chromedriver, with a fresh profile."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        _unavailable(f"{', '.join(missing)} missing (Debian: apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        _unavailable(f"selenium is not installed: {exc}")

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}")
    # An explicit driver path keeps selenium-manager from trying to download one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
