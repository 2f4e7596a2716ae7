"""HTTP load from wrk (a compiled client: it leaves the server's cores to the server), with Python's httpx as the
fallback where wrk is not installed (``apt-get install wrk``).

Each run is ``connections`` keep-alive connections for ``seconds``; wrk's own histogram gives p50 / p99 and its
error counters the answers outside 2xx/3xx. The Lua scripts below make each request: creates of distinct ASN (a NIP
per thread and request, never a repeat), or GETs of the paths in a file.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_create_runs = itertools.count()

_REPORT = """
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '\\nWRK {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "failures": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout))
end
"""

_THREAD_IDS = """
local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
end
"""

CREATE_SCRIPT = (
    _THREAD_IDS
    + """
local counter = 0
local template = nil
local headers = {}
local birth_month = nil
function init(args)
  birth_month = args[2]
  for name, value in pairs(wrk.headers) do headers[name] = value end  -- a table given to wrk.format replaces them
  headers["Content-Type"] = "application/json"
  local file = io.open(args[1])
  template = file:read("*a")
  file:close()
end
function request()
  counter = counter + 1
  -- a NIP of its own: birth month from the run, birth day from the thread,
  -- appointment year and gender from the count, sequence 001-999
  local sequence, rest = counter % 999 + 1, math.floor(counter / 999)
  local nip = string.format("%s%02d%04d03%d%03d", birth_month, thread_id, 2005 + rest % 15,
    1 + math.floor(rest / 15) % 2, sequence)
  local body = string.gsub(template, "NIP_PLACEHOLDER", nip)
  return wrk.format("POST", "/api/v1/cases", headers, body)
end
"""
    + _REPORT
)

GET_SCRIPT = (
    """
local paths = {}
local counter = 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[counter % #paths + 1])
end
"""
    + _REPORT
)


@dataclass(frozen=True)
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int

    def describe(self, label: str) -> str:
        return (
            f"{label}: {self.rate:8.1f} req/s  p50 {self.p50_ms:7.1f} ms  p99 {self.p99_ms:7.1f} ms  "
            f"(n={self.requests}, failures={self.failures}, wrk)"
        )


def available() -> bool:
    return shutil.which("wrk") is not None


def run(base_url: str, token: str, script: str, arguments: list[str], connections: int, seconds: float) -> Load:
    """wrk with ``script`` (given ``arguments``, the first a file it reads) for ``seconds`` over ``connections``."""
    with tempfile.TemporaryDirectory() as folder:
        script_file = Path(folder) / "load.lua"
        script_file.write_text(script)
        command = [
            "wrk",
            f"--threads={min(2, connections)}",
            f"--connections={connections}",
            f"--duration={seconds:.0f}s",
            "--timeout=30s",
            f"--header=Authorization: Bearer {token}",
            f"--script={script_file}",
            base_url,
            "--",
            *arguments,
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    figures = json.loads(line.removeprefix("WRK "))
    return Load(
        rate=figures["requests"] / figures["seconds"],
        p50_ms=figures["p50_ms"],
        p99_ms=figures["p99_ms"],
        requests=figures["requests"],
        failures=figures["failures"],
    )


def creates(base_url: str, token: str, case: dict[str, object], connections: int, seconds: float) -> Load:
    """``POST /api/v1/cases`` of ``case`` with a fresh NIP per request (``case["nip"]`` is replaced)."""
    with tempfile.TemporaryDirectory() as folder:
        template = Path(folder) / "case.json"
        template.write_text(json.dumps({**case, "nip": "NIP_PLACEHOLDER"}))
        run_number = next(_create_runs)  # every run its own birth month: no NIP repeats an earlier run's
        birth_month = f"{1970 + run_number // 12}{run_number % 12 + 1:02d}"
        return run(base_url, token, CREATE_SCRIPT, [str(template), birth_month], connections, seconds)


def gets(base_url: str, token: str, paths: list[str], connections: int, seconds: float) -> Load:
    """GETs of ``paths`` in turn."""
    with tempfile.TemporaryDirectory() as folder:
        listing = Path(folder) / "paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        return run(base_url, token, GET_SCRIPT, [str(listing)], connections, seconds)
