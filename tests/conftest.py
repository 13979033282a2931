"""Shared fixtures: real SQLite and PostgreSQL databases, loopback HTTP servers, a Prefect harness."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from tests.localserver import ConnectLog, LocalServer, forbid_non_loopback

pytest_plugins = ["tests.ci_policy"]

# Before anything imports Prefect: no telemetry (no DNS here), quiet console.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# Test sites are loopback servers standing in for many outlets at once: the polite production
# default (1 request per second per host) would only slow the suite down. Tests of politeness set
# their own rates (tests/unit/test_politeness.py, tests/flows/test_polling_flow.py).
os.environ.setdefault("NEWSMON_HOST_RPS", "100")

POSTGRES_URL = os.environ.get("NEWSMON_TEST_POSTGRES_URL")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
FIXTURES = Path(__file__).parent / "fixtures"


def _postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("NEWSMON_TEST_POSTGRES_URL is not set (CI always sets it)")
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    name = f"newsmon_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> ConnectLog:
    """The network rule, enforced: code in the test process may connect to loopback only.

    A safety net under newsmon's own SSRF guard: if the guard were broken, a test fails here
    instead of sending a request to a private or public address. Tests see it as `connections`.
    """
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse_unless_loopback(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if host not in _LOOPBACK:
                raise AssertionError(
                    f"a test tried to connect to {address!r}; only loopback is allowed"
                )

    def connect(sock: socket.socket, address: object) -> None:
        refuse_unless_loopback(sock, address)
        real_connect(sock, address)  # type: ignore[arg-type]

    def connect_ex(sock: socket.socket, address: object) -> int:
        refuse_unless_loopback(sock, address)
        return real_connect_ex(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return forbid_non_loopback(monkeypatch)


@pytest.fixture
def connections(_loopback_only: ConnectLog) -> ConnectLog:
    """Every connect the HTTP client attempted in this test (all to 127.0.0.1, or it failed);
    `connections.routes[PUBLIC_IP] = "127.0.0.1"` lets a test pose as a public host."""
    return _loopback_only


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A programmable HTTP server on 127.0.0.1 for one test."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def server(local_server: LocalServer) -> LocalServer:
    """`local_server`, by the shorter name the HTTP client's tests use."""
    return local_server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL on each engine: SQLite in a temp folder, and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newsmon.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh, migrated database (both engines)."""
    from newsmon.store.db import make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session (it takes ~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
