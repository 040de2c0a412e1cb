"""Fixtures every test folder may use: a PostgreSQL server for the store's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresServer, PostgresUnavailable, start_server


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
