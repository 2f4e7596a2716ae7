"""Test fixtures: every test gets its own freshly migrated database (SQLite or PostgreSQL).

Choose the database with ``SBT_TEST_DATABASE=sqlite|postgresql`` (default sqlite). PostgreSQL tests clone a
database migrated once per session (``CREATE DATABASE ... TEMPLATE``), so each test is isolated even when the
code under test opens several connections or processes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from app.core.config import Environment, Settings
from app.core.db import make_sessionmaker
from app.main import create_app
from app.migrations_runner import upgrade_to_head
from tests.auth_helpers import AuthHeaders, make_auth_headers

TEST_DATABASE = os.environ.get("SBT_TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get("SBT_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def pytest_report_header() -> str:
    return f"SBT test database: {TEST_DATABASE}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DATABASE == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with SBT_TEST_DATABASE=postgresql)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once per test session; returns its URL."""
    if TEST_DATABASE == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite:///{path}"
        upgrade_to_head(url)
        yield url
        return
    if TEST_DATABASE != "postgresql":
        raise pytest.UsageError(f"SBT_TEST_DATABASE must be sqlite or postgresql, not {TEST_DATABASE!r}")
    name = f"sbt_tpl_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _pg_url(name)
    upgrade_to_head(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database for one test, cloned from the migrated template."""
    if TEST_DATABASE == "sqlite":
        path = tmp_path / "sbt.db"
        shutil.copyfile(template_database.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    template = template_database.rsplit("/", 1)[1]
    name = f"sbt_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    if TEST_DATABASE == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"sbt_e_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield _pg_url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        environment=Environment.TESTING,
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-not-for-production",
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def session(app: FastAPI) -> Iterator[Session]:
    """A session on the test database that does not hold SQLite's write lock while the test reads."""
    with make_sessionmaker(app.state.engine, read_only=True)() as db_session:
        yield db_session


@pytest.fixture
def auth_headers(app: FastAPI) -> AuthHeaders:
    """``auth_headers("BKN")``, ``auth_headers("auditor")``, ``auth_headers("BKN", scopes=[...])``."""
    return make_auth_headers(app)
