"""Fixtures shared by every test.

Storage tests run on both engines: parametrize over ``database`` (it is by default). SQLite
gets a fresh copy of a migrated file per test; PostgreSQL gets one database per run, emptied
between tests. Off CI, PostgreSQL tests skip when no server answers; under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from callpool import clock as clock_module
from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Base
from callpool.settings import Settings
from tests.factories import Factory

PG_SERVER = os.environ.get("CALLPOOL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"callpool_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(f"{PG_SERVER}/test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable under CI=true: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    database = Database(url)
    database.migrate()
    database.dispose()
    yield url
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each engine."""
    if request.param == "sqlite":
        path = tmp_path / "callpool.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    database = Database(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    database.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock()
    previous = clock_module.use(frozen)
    yield frozen
    clock_module.use(previous)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="https://callpool.test",
        secret_key="test-secret-key-0123456789",
        twilio_auth_token="test-twilio-auth-token",
        twilio_account_sid="AC00000000000000000000000000000000",
        routing_cache_path=tmp_path / "routing.json",
        call_spool_dir=tmp_path / "spool",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def app(settings: Settings, database: Database, clock: FrozenClock) -> FastAPI:
    return create_app(settings, database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def factory(database: Database, clock: FrozenClock) -> Factory:
    """Rows of every kind (``tests/factories.py``)."""
    return Factory(database, clock)


@pytest.fixture
def account(factory: Factory) -> Account:
    return factory.account("Acme Plumbing")


@pytest.fixture
def api_key(factory: Factory, account: Account) -> str:
    return factory.api_key(account, "tests")


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def outsider_auth(factory: Factory) -> dict[str, str]:
    """An API key of another account: it must see none of ``account``'s data."""
    rival = factory.account("Rival Plumbing")
    return {"Authorization": f"Bearer {factory.api_key(rival, 'rival')}"}
