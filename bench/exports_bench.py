"""Case exports at scale: time and server memory of the XLSX, CSV and NDJSON exports of N cases.

Bulk-loads N cases with their agency records (the reconciliation bench's generator), starts `sbt serve` (one
worker) on that database and downloads each export as the demo auditor, sampling the server process's resident
memory (``VmRSS``) every 20 ms. Printed beside the raw limits measured in the same run:

* the NDJSON export (the same batches and read audit, no formatting: what the database reading costs);
* openpyxl's write-only mode alone writing the same number of rows of 40 short strings from memory to a file
  (the library's own speed; the XLSX export cannot be faster);
* the memory the server held before the first export (the export's own growth is the peak beyond it).

    .venv/bin/python -m bench.exports_bench [--database sqlite|postgresql] [--cases 100000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time

import httpx
from openpyxl import Workbook

from app.core.migrations import upgrade_to_head
from bench.body_limit_bench import memory_kib
from bench.common import Server, live_server, scratch_database
from bench.reconciliation_bench import load

EXPORTS = ("cases.ndjson", "cases.csv", "cases.xlsx")


def download(server: Server, token: str, export: str) -> dict[str, float]:
    """One export, read to its end; its time, size and the server's peak resident memory meanwhile."""
    peak = memory_kib(server.pid)["VmRSS"]
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, memory_kib(server.pid)["VmRSS"])

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    size = 0
    first_byte = None
    try:
        with httpx.stream(
            "GET",
            f"{server.base_url}/api/v1/audit/exports/{export}",
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "exports bench"},
            timeout=3600,
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                first_byte = first_byte or time.perf_counter()
                size += len(chunk)
    finally:
        done.set()
        sampler.join()
    elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 2),
        "first_byte_seconds": round((first_byte or time.perf_counter()) - started, 2),
        "mib": round(size / 2**20, 1),
        "peak_rss_mib": round(peak / 1024, 1),
    }


def raw_openpyxl(rows: int, columns: int = 40) -> float:
    """Seconds openpyxl's write-only mode takes for ``rows`` rows of short strings, to a file."""
    values = [f"value {n:02d}" for n in range(columns)]
    started = time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("raw")
    for _ in range(rows):
        sheet.append(values)
    with tempfile.TemporaryFile() as file:
        book.save(file)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="sqlite")
    parser.add_argument("--cases", type=int, default=20_000)
    args = parser.parse_args()
    with scratch_database(args.database) as url:
        upgrade_to_head(url)
        loaded = load(url, args.cases, seed=2024, rate=0.02)
        print(json.dumps({"database": args.database, **loaded}), flush=True)
        with live_server(url) as server:
            token = server.token("demo-auditor")
            before = round(memory_kib(server.pid)["VmRSS"] / 1024, 1)
            results = {export: download(server, token, export) for export in EXPORTS}
        rows = loaded["cases"] + loaded["agency_records"]
        report = {
            "server_rss_before_mib": before,
            **results,
            "xlsx_growth_mib": round(results["cases.xlsx"]["peak_rss_mib"] - before, 1),
            "raw_openpyxl_write_only_seconds": raw_openpyxl(rows),
            "rows_written_to_xlsx": rows,
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
