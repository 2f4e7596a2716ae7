"""Test fixtures: every test runs on a freshly migrated database (SQLite or PostgreSQL) of its own, or in a
transaction rolled back after it.

Choose the database with ``SBT_TEST_DATABASE=sqlite|postgresql`` (default sqlite).

- SQLite: each test gets a copy of a database file migrated once per session.
- PostgreSQL: each xdist worker migrates a template database once and clones one working database from it. A test
  runs its app on ONE connection of that working database, inside an outer transaction rolled back at teardown;
  the app's sessions join it with ``join_transaction_mode="create_savepoint"``, so its commits are savepoint
  releases. Sequences are set back to their template values before each test (``nextval`` is not transactional).
  The test's ``settings.database_url`` names a database that does not exist, so that code opening an engine of
  its own from the settings (CLI, ``registry_session``, reconciliation runner, ledger export, a second app)
  fails loudly instead of committing for real into the shared working database.
- Tests marked ``real_commits`` (several connections or processes, the CLI, migrations, second engines, or app
  code that keeps one session open while another commits, like the ledger export and its read audit) get a
  database of their own on PostgreSQL too, cloned from the template (``CREATE DATABASE ... TEMPLATE``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, SessionTransaction

from app.core.config import Environment, Settings, get_settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.core.migrations import upgrade_to_head
from app.core.problems import LedgerIntegrityFailure
from app.main import create_app
from app.reconciliation import outbox
from app.reconciliation.findings import SyncOutcome
from tests.auth_helpers import AuthHeaders, make_auth_headers

TEST_DATABASE = os.environ.get("SBT_TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get("SBT_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEST_REDIS_URL = os.environ.get("SBT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REAL_COMMITS = "real_commits"
NO_SECOND_CONNECTION_DATABASE = "sbt_rolled_back_test__mark_it_real_commits"
"""What ``settings.database_url`` names in a rolled-back PostgreSQL test: a database that does not exist."""


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def pytest_report_header() -> str:
    return f"SBT test database: {TEST_DATABASE}"


def rolls_back(request: pytest.FixtureRequest) -> bool:
    """Whether this test runs in a transaction rolled back at teardown (PostgreSQL, not ``real_commits``)."""
    return TEST_DATABASE == "postgresql" and request.node.get_closest_marker(REAL_COMMITS) is None


DATABASE_FIXTURES = frozenset({"database_url", "empty_database_url", "template_database"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Slow tests first, so that the xdist workers do not wait on one of them at the end of the run.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if TEST_DATABASE == "postgresql":
        # A test that uses no database (pure Merkle, rule, NIP, layer checks…) ran in the SQLite pass already.
        independent = [item for item in items if not DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))]
        if independent:
            config.hook.pytest_deselected(items=independent)
            items[:] = [item for item in items if item not in independent]
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


@dataclass(frozen=True)
class WorkerDatabase:
    """This worker's working database for rolled-back tests, and its sequences' values as migrated."""

    engine: Engine
    reset_sequences: str | None


@pytest.fixture(scope="session")
def worker_database(template_database: str) -> Iterator[WorkerDatabase]:
    """PostgreSQL: one database per worker, cloned once from the template, where tests run and roll back."""
    template = template_database.rsplit("/", 1)[1]
    name = f"sbt_w_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    engine = make_engine(_pg_url(name))
    migrated = _row_counts(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT schemaname, sequencename, start_value, last_value FROM pg_sequences")).all()
    resets = [
        f"setval('{schema}.{sequence}', {start if last is None else last}, {last is not None})"
        for schema, sequence, start, last in rows
    ]
    yield WorkerDatabase(engine, f"SELECT {', '.join(resets)}" if resets else None)
    leaked = {table: count for table, count in _row_counts(engine).items() if count != migrated.get(table)}
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    if leaked:
        pytest.fail(
            f"rolled-back tests committed for real into this worker's database (rows now: {leaked}); "
            "mark the test that did it @pytest.mark.real_commits"
        )


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        counts = {table: conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one() for table in tables}  # noqa: S608
        return counts


@pytest.fixture
def rollback_connection(worker_database: WorkerDatabase) -> Iterator[Connection]:
    """One connection in an outer transaction that is rolled back after the test."""
    with worker_database.engine.connect() as connection:
        outer = connection.begin()
        if worker_database.reset_sequences:
            connection.execute(text(worker_database.reset_sequences))
        try:
            yield connection
        finally:
            if outer.is_active:
                outer.rollback()


@pytest.fixture
def database_url(template_database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database for one test, cloned from the migrated template.

    In a rolled-back PostgreSQL test, the URL of a database that does not exist: the test's data lives in the
    ``rollback_connection``, which the ``app`` and ``session`` fixtures use.
    """
    if TEST_DATABASE == "sqlite":
        path = tmp_path / "sbt.db"
        shutil.copyfile(template_database.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    if rolls_back(request):
        yield _pg_url(NO_SECOND_CONNECTION_DATABASE)
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
        state_audit_interval_seconds=0,  # tests that want the background audit turn it on
        reconciliation_outbox_interval_seconds=0,  # tests drain the outbox themselves (the client fixture)
        scheduler_interval_seconds=0,  # tests drive the scheduler round by round (or turn it on)
        reconciliation_interval_seconds=0,  # no FULL run starts unless a test asks for one
        monitoring_bridge_interval_seconds=0,  # tests run the count bridge job's rounds themselves
    )


@pytest.fixture
def redis_settings(settings: Settings) -> Iterator[Settings]:
    """``settings`` sharing state through the test Redis (``SBT_TEST_REDIS_URL``), under a key prefix of this test's
    own so that parallel tests never see each other's counters; its keys are deleted afterwards."""
    prefix = f"sbt-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is not answering at {TEST_REDIS_URL} (scripts/env.sh ensure_redis starts it): {error}")
    yield settings.model_copy(update={"redis_url": TEST_REDIS_URL, "redis_key_prefix": prefix})
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


TEST_SESSIONS = "sbt_test_sessions"
"""``Connection.info`` key: the test's own sessions on the rolled-back connection (the ``session`` fixture)."""


def _end_test_sessions_reads(connection: Connection) -> Callable[[Session, SessionTransaction], None]:
    """Before each session of the app begins, end the test session's open transaction (a savepoint).

    Otherwise the app's savepoints would nest inside the test session's, and a later ``session.rollback()`` in
    the test (meant to end a read and see newer commits) would undo the app's work. Ending it is what a read
    transaction of its own would have seen on PostgreSQL (READ COMMITTED) anyway.
    """

    def settle(_app_session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            for test_session in connection.info.get(TEST_SESSIONS, []):
                if test_session.in_transaction():
                    test_session.commit()

    return settle


def build_app(settings: Settings, request: pytest.FixtureRequest, **options: Any) -> Iterator[FastAPI]:
    """The test's app on its database (``options`` go to ``create_app``), for a module's own ``app`` fixture."""
    if rolls_back(request):
        connection: Connection = request.getfixturevalue("rollback_connection")
        application = create_app(settings, bind=connection, **options)
        event.listen(application.state.sessionmaker, "after_transaction_create", _end_test_sessions_reads(connection))
        yield application
        return
    application = create_app(settings, **options)
    yield application
    application.state.engine.dispose()


def drain_outbox(app: FastAPI) -> SyncOutcome:
    """Re-check every case writes have touched, in the outbox worker's rounds, with the app's settings now."""
    return outbox.drain(app.state.sessionmaker, app.state.settings)


@pytest.fixture
def app(settings: Settings, request: pytest.FixtureRequest) -> Iterator[FastAPI]:
    yield from build_app(settings, request)


def _read_then_drain(app: FastAPI) -> Callable[[httpx.Response], None]:
    def hook(response: httpx.Response) -> None:
        response.read()  # a streamed export ends (and closes its sessions) before the round runs
        # A log cut under its checkpoints refuses the round's findings entries as it refuses every write: the
        # worker logs it and retries; tests of it look at what the API answers.
        with contextlib.suppress(LedgerIntegrityFailure):
            drain_outbox(app)

    return hook


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """The test client of the app; after every response, the reconciliation outbox is drained (the worker's own
    round, in its own transaction, after the write's commit), so that a test reads a write's findings
    deterministically, as a caller would once the worker's lag has passed. ``undrained_client``: without it."""
    with TestClient(app) as test_client:
        test_client.event_hooks["response"].append(_read_then_drain(app))
        yield test_client


@pytest.fixture
def undrained_client(app: FastAPI) -> Iterator[TestClient]:
    """The test client with the outbox left as the writes leave it (tests of the lag itself)."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def session(app: FastAPI, request: pytest.FixtureRequest) -> Iterator[Session]:
    """A session on the test database that does not hold SQLite's write lock while the test reads."""
    if not rolls_back(request):
        with make_sessionmaker(app.state.engine, read_only=True)() as db_session:
            yield db_session
        return
    connection: Connection = request.getfixturevalue("rollback_connection")
    with make_sessionmaker(connection, join_transaction_mode="create_savepoint")() as db_session:
        connection.info.setdefault(TEST_SESSIONS, []).append(db_session)
        yield db_session


Writing = Callable[[], contextlib.AbstractContextManager[Session]]


@pytest.fixture
def writing(app: FastAPI, session: Session, request: pytest.FixtureRequest) -> Writing:
    """``with writing() as writer:`` for the writes a test makes itself, committed at the end of the block.

    On SQLite in a writing transaction of its own: the read-only ``session`` fails to upgrade to a write ("database
    is locked", without waiting) when one of the app's background threads (the sequencer, the reconciliation
    outbox) committed since its first read. In a rolled-back PostgreSQL test, the test's own session."""

    @contextlib.contextmanager
    def writes() -> Iterator[Session]:
        if rolls_back(request):
            yield session
            session.commit()
        else:
            with transaction(app.state.sessionmaker) as writer:
                yield writer

    return writes


@pytest.fixture
def auth_headers(app: FastAPI) -> AuthHeaders:
    """``auth_headers("BKN")``, ``auth_headers("auditor")``, ``auth_headers("BKN", scopes=[...])``."""
    return make_auth_headers(app)


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The ``sbt`` command's environment pointing at the test database (mark the test ``real_commits``: the
    command opens its own engine)."""
    monkeypatch.setenv("SBT_ENVIRONMENT", settings.environment.value)
    monkeypatch.setenv("SBT_DATABASE_URL", settings.sqlalchemy_url)
    monkeypatch.setenv("SBT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SBT_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
