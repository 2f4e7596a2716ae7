"""The ledger sequencer (decision 0028): appends/s and serialised time per append beside raw batched inserts
(wall clock, and this process's CPU time, which a busy machine disturbs less), measured in the same run. HTTP
case creation beside authenticated single reads is ``bench.cases_bench``.

.venv/bin/python -m bench.sequencer_bench                          # both databases
.venv/bin/python -m bench.sequencer_bench --databases sqlite --writes 50000
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from app.core.actor import Agency, Principal, Role, WriteContext
from app.core.config import Environment, Settings
from app.core.db import make_engine, make_sessionmaker, transaction, utcnow
from app.core.heap import tune_collector
from app.core.migrations import upgrade_to_head
from app.ledger import service
from app.ledger.canonical import canonical_json
from app.ledger.merkle import leaf_hash
from app.ledger.models import LedgerEntry
from app.ledger.schemas import LedgerChange
from app.ledger.sequencer import Sequencer
from bench.common import load_average, scratch_database
from tests.factories import case_payload

CONTEXT = WriteContext(
    principal=Principal(client_id="bench-bawaslu", role=Role.AGENCY, agency=Agency.BAWASLU),
    body_sha256="0" * 64,
    request_id="bench",
)


def _change(number: int) -> LedgerChange:
    """A change shaped like a real ``case.created`` (the case as read back, ~600 bytes of payload)."""
    return LedgerChange("case.created", {**case_payload(), "number": number}, uuid.uuid4())


def _settings(url: str, data_dir: Path, batch: int) -> Settings:
    return Settings(
        _env_file=None,
        environment=Environment.TESTING,
        database_url=url,
        data_dir=data_dir,
        secret_key="bench-secret-not-for-production",  # noqa: S106 - a scratch database
        ledger_batch_max_writes=batch,
    )


def _leave_pending(factory: sessionmaker[Session], writes: int) -> None:
    for start in range(0, writes, 1000):
        with transaction(factory) as session:
            for number in range(start, min(writes, start + 1000)):
                service.record_pending(session, CONTEXT, [_change(number)])


def _entry_rows(writes: int) -> list[dict[str, Any]]:
    """The raw limit's rows: entries of the same size, bytes and hashes computed beforehand (not timed)."""
    rows = []
    now = utcnow()
    for number in range(writes):
        change = _change(number)
        data = canonical_json({"seq": number, "type": change.entry_type, "payload": change.payload})
        rows.append(
            {
                "seq": number,
                "recorded_at": now,
                "entry_type": change.entry_type,
                "agency": "BAWASLU",
                "client_id": "bench-bawaslu",
                "case_id": change.case_id,
                "request_id": "bench",
                "body_sha256": "0" * 64,
                "leaf_data": data,
                "leaf_hash": leaf_hash(data),
            }
        )
    return rows


def sequencer_rates(kind: str, writes: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        with scratch_database(kind) as url:
            upgrade_to_head(url)
            engine = make_engine(url)
            factory = make_sessionmaker(engine)
            _leave_pending(factory, writes)
            sequencer = Sequencer(factory, _settings(url, Path(folder), batch))
            started, cpu_started = time.perf_counter(), time.process_time()
            sequencer.drain()  # one integrator: every second of it is serialised
            integrated, integrated_cpu = time.perf_counter() - started, time.process_time() - cpu_started
            engine.dispose()
        with scratch_database(kind) as url:
            upgrade_to_head(url)
            engine = make_engine(url)
            rows = _entry_rows(writes)
            started, cpu_started = time.perf_counter(), time.process_time()
            for start in range(0, writes, batch):
                with engine.begin() as connection:
                    connection.execute(insert(LedgerEntry.__table__), rows[start : start + batch])  # type: ignore[arg-type]
            raw, raw_cpu = time.perf_counter() - started, time.process_time() - cpu_started
            engine.dispose()
    print(
        f"  {kind:10s} sequencer {writes / integrated:8.0f} appends/s   raw batched inserts {writes / raw:8.0f} rows/s"
        f"   ratio {raw / integrated:.2f} (target >= 0.3)"
    )
    print(
        f"  {kind:10s} serialised time per append {integrated / writes * 1000:.3f} ms (target <= 0.2)   "
        f"raw insert per row {raw / writes * 1000:.3f} ms   load {load_average()}"
    )
    # On a shared machine the wall clock also counts waiting for a core; this process's CPU time does not (on
    # SQLite it includes the database's work, on PostgreSQL the server's is left out of both).
    print(
        f"  {kind:10s} CPU time in this process: sequencer {integrated_cpu / writes * 1000:.3f} ms per append, "
        f"raw {raw_cpu / writes * 1000:.3f} ms per row, ratio {raw_cpu / integrated_cpu:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=20000, help="pending writes the sequencer integrates")
    parser.add_argument("--batch", type=int, default=1000, help="entries per round, and per raw insert batch")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    tune_collector()  # as the serving process does
    print(f"ledger appends: {args.writes} pending writes, {args.batch} per round / per raw batch")
    for kind in args.databases:
        sequencer_rates(kind, args.writes, args.batch)


if __name__ == "__main__":
    main()
