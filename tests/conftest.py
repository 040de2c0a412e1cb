"""Fixtures every test folder may use (a PostgreSQL server for the store's tests), and the order
the files run in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresServer, PostgresUnavailable, start_server

# The longest files first (minutes each on a busy machine): scripts/test hands whole files to two
# workers in this order, so the short ones fill in at the end instead of one worker finishing a
# long file alone. Only the order changes; every test still runs.
LONGEST_FIRST = (
    "integration/test_serve.py",
    "integration/test_quorum.py",
    "integration/test_faults.py",
    "integration/test_replica_faults.py",
    "integration/test_shared_incidents.py",
    "integration/test_dockerfile.py",
    "integration/test_fleet_page.py",
    "integration/test_replicas.py",
    "integration/test_store_postgres.py",
    "integration/test_serve_core.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        return next(
            (i for i, name in enumerate(LONGEST_FIRST) if path.endswith(name)), len(LONGEST_FIRST)
        )

    items.sort(key=rank)  # stable: within a file, and among the rest, the order stays


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, started the first time a test asks for it.
    One that cannot start fails those tests (never skips them): CI has it (scripts/setup)."""
    try:
        server = start_server()
    except PostgresUnavailable as e:
        pytest.fail(f"PostgreSQL cannot start for the tests: {e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A `postgresql+psycopg://` URL (with a password) of a fresh, empty database."""
    return postgres_server.fresh_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new store, once on each engine the store supports (on PostgreSQL a fresh
    database already at the newest schema; the migrations from empty have tests of their own)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.sqlite"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.fresh_store_database()
