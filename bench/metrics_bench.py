"""Cost of a Prometheus scrape: `/metrics` latency beside `/ready` (one `SELECT 1`, the floor of any request that
touches the database) and `/health` (no database), on a live uvicorn server holding demo data.

.venv/bin/python -m bench.metrics_bench --database postgresql --cases 2000 --requests 200
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import httpx

from bench.common import ROOT, describe_latencies, live_server, scratch_database

TOKEN = "bench-metrics-token"  # noqa: S105 - a throw-away token for a throw-away server


def _measure(base_url: str, path: str, requests: int) -> str:
    latencies = []
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        started = time.perf_counter()
        for _ in range(requests):
            begun = time.perf_counter()
            response = client.get(path)
            latencies.append(time.perf_counter() - begun)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return describe_latencies(f"{path:<9}", latencies, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with scratch_database(args.database) as url, tempfile.TemporaryDirectory() as key_dir:
        env = {"SBT_KEY_DIR": key_dir, "SBT_METRICS_ENABLED": "true", "SBT_METRICS_TOKEN": TOKEN}
        demo_env = os.environ | env | {"SBT_DATABASE_URL": url, "SBT_DATA_DIR": key_dir, "SBT_LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-m", "app.cli", "demo-data", "--cases", str(args.cases)]
        subprocess.run(command, cwd=ROOT, env=demo_env, check=True, stdout=subprocess.DEVNULL)
        with live_server(url, extra_env=env) as server:
            print(f"{args.database}, {args.cases} demo cases, {args.requests} sequential requests each")
            for path in ("/health", "/ready", "/metrics"):
                print(_measure(server.base_url, path, args.requests))


if __name__ == "__main__":
    main()
