"""Database plumbing: declarative base with one naming convention, engines, the request unit of work, and many
rows written in one statement."""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import operator
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Insert,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    TypeDecorator,
    Update,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.session import JoinTransactionMode
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TZDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware timestamp on both dialects.

    PostgreSQL keeps the offset (timestamptz); SQLite stores text without one, so values are
    normalised to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class GUID(TypeDecorator[uuid.UUID]):
    """UUID stored natively on PostgreSQL and as 36-character text on SQLite.

    A bound value may also be the UUID's text as ``str()`` writes it (the ledger round's case ids, read from the
    leaves it writes): SQLite stores it as it is, PostgreSQL parses it."""

    impl = String(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import UUID

            return dialect.type_descriptor(UUID(as_uuid=True))
        return dialect.type_descriptor(String(36))

    def process_bind_param(self, value: uuid.UUID | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        if value is None or isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(str(value))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


READ_ONLY_OPTION = "sbt_read_only"
SQLITE_BUSY_TIMEOUT_SECONDS = 30


class _SqliteWriters:
    """The writers of one SQLite file take turns on a lock before ``BEGIN IMMEDIATE``: a thread lock within the
    process, then a file lock next to the database between processes.

    A writer that finds SQLite's write lock taken otherwise waits in SQLite's busy handler, which sleeps up to
    100 ms at a time and lets any writer arriving meanwhile pass: under load some requests waited seconds (a
    p99 of 2.8 s beside a p50 of 36 ms for read-audited GETs). Here the next writer of the process wakes as soon
    as the last one's connection goes back to the pool, its transaction finished; between processes one writer
    of each polls the file lock every millisecond. A writer that cannot get the locks within the busy timeout
    goes on without them and waits in SQLite as before, so a stuck holder fails requests as it always did.
    """

    def __init__(self, database: str | None) -> None:
        self._lock = threading.Lock()
        self._holders: dict[object, bool] = {}
        """The pool's connection records whose transaction holds the locks (released at their check-in), and
        whether the file lock too."""
        self._file = None if not database or database == ":memory:" else f"{database}-writers.lock"
        self._descriptor: int | None = None

    def begin(self, conn: Any) -> None:
        # Reads (engine option sbt_read_only) begin deferred and never block anyone under WAL. A writing
        # transaction takes SQLite's write lock when it starts, so that concurrent writers queue instead of
        # failing with "database is locked" on lock upgrade.
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        if not read_only:
            record = conn.connection._connection_record
            if record is not None and record not in self._holders:
                deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
                if self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_SECONDS):
                    self._holders[record] = self._lock_file(deadline)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    def _lock_file(self, deadline: float) -> bool:
        if self._file is None:
            return False
        if self._descriptor is None:
            self._descriptor = os.open(self._file, os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(self, os.close, self._descriptor)  # with the engine whose listener this is
        while True:
            try:
                fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.001)

    def checkin(self, _dbapi_connection: Any, record: object) -> None:
        if record in self._holders:
            if self._holders.pop(record) and self._descriptor is not None:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            self._lock.release()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "isolation_level": None}, **kwargs)
        writers = _SqliteWriters(make_url(url).database)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", writers.begin)
        event.listen(engine, "checkin", writers.checkin)
        return engine
    # No ping per checkout (a round trip before every request's first statement): a connection the server closed
    # fails its statement, SQLAlchemy then invalidates the whole pool (every older connection is replaced on its
    # next checkout), and the request answers 503; pool_recycle replaces connections before idle-timeout limits.
    # No server-side prepared statements (psycopg prepares a query run five times on one connection): a prepared
    # statement is session state, and behind PgBouncer's transaction pooling the next transaction may run on
    # another server connection that never saw it, or one where another client prepared the same name (decision
    # 0026). Nothing else SBT does outlives a transaction.
    return create_engine(
        url,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=20,
        connect_args={"prepare_threshold": None},
        **kwargs,
    )


def make_sessionmaker(
    engine: Engine | Connection,
    *,
    read_only: bool = False,
    join_transaction_mode: JoinTransactionMode = "conditional_savepoint",
) -> sessionmaker[Session]:
    """Sessions for writing, or (``read_only``) for requests that only read.

    Bound to a ``Connection`` (tests), sessions join its transaction as ``join_transaction_mode`` says; the
    read-only option is then left off, since the connection's owner began that transaction.
    """
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only and isinstance(engine, Engine) else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True, join_transaction_mode=join_transaction_mode)


def engine_of(factory: sessionmaker[Session]) -> Engine | None:
    """The engine the factory's sessions take their connections from; None when the factory is bound to one
    connection (tests), which only one thread at a time may use: no background thread, no second connection."""
    bind = factory.kw.get("bind")
    return bind if isinstance(bind, Engine) else None


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: a session that commits if the block succeeds and rolls back if it raises.

    The only place in SBT that commits (a test enforces it): requests, write flows, the CLI, reconciliation runs,
    exports and demo data all use it, so a change and its ledger entries land together or not at all.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's current transaction has committed (never if it rolls back): for telling
    other processes about a change they must not read before it is visible."""
    event.listen(session, "after_commit", lambda _session: action(), once=True)


def try_round_lock(session: Session, key: int) -> bool:
    """Whether this transaction is the one to do a round of background work shared by every replica.

    PostgreSQL: ``pg_try_advisory_xact_lock`` (transaction-scoped, so safe behind PgBouncer's transaction
    pooling; released by the commit or rollback, and by the server when the holder dies). SQLite: always, the
    writing transaction already holds the database's write lock (``BEGIN IMMEDIATE``).
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))


S = TypeVar("S", bound=Select[Any])


def where_equal(statement: S, equalities: Mapping[Any, object]) -> S:
    """Add ``column == value`` for every filter that was given (None means "not filtered")."""
    for column, value in equalities.items():
        if value is not None:
            statement = statement.where(column == value)
    return statement


UNNEST_UPDATE_FROM_ROWS = 4
"""``update_rows``' ``UNNEST_FROM_ROWS``: one row's UPDATE costs psycopg 0.16 against 0.24 ms of client CPU (0.34
against 0.54 ms of wall time), two rows as much CPU and less wall time, four as much of both."""


def update_rows(
    session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]], *, unchanged: tuple[str, ...] = ()
) -> None:
    """Set columns of many rows, found by ``key``, to each row's own values (every row names the same columns);
    the columns' update defaults apply, except to the ``unchanged`` ones.

    PostgreSQL, from ``UNNEST_UPDATE_FROM_ROWS`` rows: one ``UPDATE ... FROM unnest(arrays)`` (psycopg pipelines
    an executemany as one statement per row, each planned and run apart); else one executemany."""
    columns = [name for name in rows[0] if name != key]
    if session.get_bind().dialect.name == "postgresql" and len(rows) >= UNNEST_UPDATE_FROM_ROWS:
        arrays = {f"v_{name}": [row[name] for row in rows] for name in (key, *columns)}
        session.connection().execute(_unnest_update(table, key, tuple(columns), unchanged), arrays)
        return
    driver = _driver_update(table, key, tuple(columns), unchanged, session.get_bind().dialect)
    if driver is not None:
        session.connection().exec_driver_sql(driver.statement, driver.parameters(rows))
        return
    parameters = [{f"old_{key}": row[key], **{f"new_{name}": row[name] for name in columns}} for row in rows]
    session.connection().execute(_keyed_update(table, key, tuple(columns), unchanged), parameters)


@functools.lru_cache(maxsize=128)  # per engine's dialect, as ``_driver_insert``
def _driver_update(
    table: Table, key: str, columns: tuple[str, ...], unchanged: tuple[str, ...], dialect: Dialect
) -> _DriverExecutemany | None:
    """The driver's form of ``update_rows``' executemany elsewhere than PostgreSQL (an outbox round's record columns
    on SQLite: Core built and processed a parameter dictionary per row, a tenth of the round); None where a column
    left alone has an update default computed in Python, or the driver takes named parameters."""
    if any(c.onupdate is not None for c in table.columns if c.name not in columns and c.name not in unchanged):
        return None
    compiled = _keyed_update(table, key, columns, unchanged).compile(dialect=dialect)
    names = {f"new_{name}": name for name in columns} | {f"old_{key}": key}
    if not compiled.positional or sorted(compiled.positiontup or ()) != sorted(names):
        return None
    order = tuple(names[bound] for bound in compiled.positiontup or ())
    return _DriverExecutemany(compiled.string, order, [_bind_processor(table.c[name].type, dialect) for name in order])


@functools.cache
def _keyed_update(table: Table, key: str, columns: tuple[str, ...], unchanged: tuple[str, ...]) -> Update:
    """``update_rows``' statement elsewhere, built once per table and set of columns: the executemany's."""
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in columns}
    values |= {name: table.c[name] for name in unchanged}
    return update(table).where(table.c[key] == bindparam(f"old_{key}")).values(values)


UNNEST_FROM_ROWS = 8
"""From this many rows, ``insert_rows`` on PostgreSQL sends one array per column. Below it SQLAlchemy's executemany
(one ``INSERT ... VALUES`` of the rows) costs psycopg less: for one row of 16 columns 0.10 against 0.26 ms of client
CPU, and as much at about 8 (a single create inserts one case and one record; a quiet sequencer round a few nodes)."""


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (every row names the same columns): on PostgreSQL, from ``UNNEST_FROM_ROWS`` rows, one
    ``INSERT ... SELECT unnest(arrays)`` (no bound parameter per value to parse), else one executemany."""
    columns = tuple(rows[0])
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql" and len(rows) >= UNNEST_FROM_ROWS:
        arrays = {f"v_{name}": [row[name] for row in rows] for name in columns}
        session.connection().execute(_unnest_insert(table, columns), arrays)
        return
    driver = _driver_insert(table, columns, dialect)
    if driver is None:
        session.connection().execute(_insert(table), list(rows))
    else:
        session.connection().exec_driver_sql(driver.statement, driver.parameters(rows))


@functools.cache
def _insert(table: Table) -> Insert:
    """``insert_rows``' executemany statement, one per table (a new one per call computed its cache key)."""
    return insert(table)


_UNSET = object()


class _DriverExecutemany:
    """An executemany of ``insert_rows`` or ``update_rows`` handed to the driver as it stands, each row's values
    in the statement's order: Core's executemany built and processed a parameter dictionary per row (in the ledger
    round on SQLite, more than the driver's insert itself)."""

    def __init__(self, statement: str, columns: tuple[str, ...], processors: Sequence[Callable[[Any], Any] | None]):
        self.statement = statement
        self._values = operator.itemgetter(*columns)
        self._processed = [(index, process) for index, process in enumerate(processors) if process is not None]
        self._single = len(columns) == 1

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        values = self._values
        if self._single:
            return [(values(row),) for row in rows]
        if not self._processed:
            return list(map(values, rows))
        # Column by column: the rows' tuples taken apart and put back together in C, only the processed columns'
        # values touched in Python (a third less than rebuilding each row).
        columns: list[Sequence[Any]] = list(zip(*map(values, rows), strict=True))
        for index, process in self._processed:
            bound_values = []
            given, bound = _UNSET, None
            for value in columns[index]:
                if value is not given:  # a value shared by consecutive rows (a round's timestamp) is bound once
                    given, bound = value, process(value)
                bound_values.append(bound)
            columns[index] = bound_values
        return list(zip(*columns, strict=True))


@functools.lru_cache(maxsize=128)  # per engine's dialect: bounded, tests make many engines
def _driver_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _DriverExecutemany | None:
    """The driver's form of ``insert_rows``' statement (positional parameters, each value through its column type's
    bind processor, as Core would); None when a column left out has a default computed in Python (Core applies
    it per row) or the driver takes named parameters."""
    if any(column.default is not None for column in table.columns if column.name not in columns):
        return None
    compiled = insert(table).values({name: bindparam(name) for name in columns}).compile(dialect=dialect)
    if not compiled.positional or compiled.positiontup != list(columns):
        return None
    processors = [_bind_processor(table.c[name].type, dialect) for name in columns]
    return _DriverExecutemany(compiled.string, columns, processors)


def _bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What Core does to a value of the type before the driver sees it; nothing for binary values on SQLite, whose
    driver binds any bytes-like value as a BLOB itself (Core wraps each in a memoryview, which was a tenth of a
    ledger round's inserts)."""
    if dialect.name == "sqlite" and isinstance(column_type, LargeBinary):
        return None
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _unnested(table: Table, columns: tuple[str, ...]) -> Select[Any]:
    """One parameter per column, unnested side by side into rows (PostgreSQL runs set-returning functions of a
    select list in lockstep): an array of the column's type, or for a JSON column one JSON array of the values.
    psycopg writes a text array in Python, escaping every double quote of every element with a regular
    expression: a JSON array parameter is one serialisation (findings' evidence: 33 ms per 310 rows as json[])."""
    return select(*(_rows_of(table.c[name].type, f"v_{name}").label(name) for name in columns))


def _rows_of(column_type: TypeEngine[Any], parameter: str) -> ColumnElement[Any]:
    if type(column_type) is JSON:
        return func.json_array_elements(bindparam(parameter, type_=JSON))
    return func.unnest(bindparam(parameter, type_=ARRAY(column_type)))


@functools.cache
def _unnest_insert(table: Table, columns: tuple[str, ...]) -> Insert:
    """``insert_rows``' statement on PostgreSQL, built once per table and set of columns (a column left out gets
    its default, one value for the statement)."""
    return insert(table).from_select(columns, _unnested(table, columns))


@functools.cache
def _unnest_update(table: Table, key: str, columns: tuple[str, ...], unchanged: tuple[str, ...]) -> Update:
    """``update_rows``' statement on PostgreSQL, built once per table and set of columns: one array per column (of
    the column's type), unnested side by side into rows joined on the key."""
    rows = _unnested(table, (key, *columns)).subquery("v")
    kept = {name: table.c[name] for name in unchanged}
    return update(table).where(table.c[key] == rows.c[key]).values({name: rows.c[name] for name in columns} | kept)
