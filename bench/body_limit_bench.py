"""Memory of the server while it refuses a 100 MB request body: the body limit must hold, not buffer.

Starts `sbt serve` (one worker, SQLite), then sends ``POST /api/v1/cases`` with a 100 MB body generated chunk by
chunk (never held by the bench) over a raw socket: anonymous and chunked (no Content-Length), anonymous with a
Content-Length, and authenticated and chunked. The bench sends until the server answers or closes the connection,
and prints the server process's resident memory (``VmRSS`` and its peak ``VmHWM`` from ``/proc/<pid>/status``)
before and after, beside the allowed growth of 5 MiB.

    .venv/bin/python -m bench.body_limit_bench [--megabytes 100]
"""

from __future__ import annotations

import argparse
import contextlib
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import Server, live_server, scratch_database

ALLOWED_GROWTH_KIB = 5 * 1024
CHUNK = 64 * 1024


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (resident peak) of the process, in KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            fields[name] = int(value.split()[0])
    return fields


def chunks(total: int) -> Iterator[bytes]:
    """``total`` bytes of a JSON-looking body, made one chunk at a time."""
    block = b'{"name": "' + b"x" * (CHUNK - 10)
    sent = 0
    while sent < total:
        piece = block[: min(CHUNK, total - sent)]
        sent += len(piece)
        yield piece


def send_body(server: Server, total: int, *, chunked: bool, token: str | None) -> tuple[str, int]:
    """Stream the body until the server answers; returns its status line and how many body bytes were sent."""
    url = urlsplit(server.base_url)
    head = [
        "POST /api/v1/cases HTTP/1.1",
        f"Host: {url.netloc}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    sent = 0
    reply = b""
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for piece in chunks(total):
                if select.select([sock], [], [], 0)[0]:  # the server has answered (or closed): stop sending
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection after its answer
        with contextlib.suppress(ConnectionResetError):
            reply = sock.recv(4096)
    status = reply.split(b"\r\n", 1)[0].decode(errors="replace") or "(no answer)"
    return status, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args()
    total = args.megabytes * 1_000_000
    with scratch_database("sqlite") as database_url, live_server(database_url) as server:
        token = server.token("demo-bawaslu")
        for _ in range(3):  # warm up: the code paths of a refusal are loaded before the baseline
            send_body(server, 2 * 1024 * 1024, chunked=True, token=None)
            send_body(server, 2 * 1024 * 1024, chunked=False, token=None)
            send_body(server, 2 * 1024 * 1024, chunked=True, token=token)
        print(f"server pid {server.pid}; body {args.megabytes} MB per request; allowed growth 5 MiB (5120 KiB)")
        start = memory_kib(server.pid)
        for label, chunked, bearer in (
            ("anonymous, chunked", True, None),
            ("anonymous, Content-Length", False, None),
            ("authenticated, chunked", True, token),
        ):
            before = memory_kib(server.pid)
            status, sent = send_body(server, total, chunked=chunked, token=bearer)
            after = memory_kib(server.pid)
            growth = after["VmRSS"] - before["VmRSS"]
            print(
                f"{label:<26} {status:<32} sent {sent / 1_000_000:6.2f} MB   VmRSS {before['VmRSS']} KiB -> "
                f"{after['VmRSS']} KiB ({growth:+d} KiB)   VmHWM {before['VmHWM']} -> {after['VmHWM']} KiB"
            )
        end = memory_kib(server.pid)
        growth = end["VmRSS"] - start["VmRSS"]
        peak_rise = end["VmHWM"] - start["VmHWM"]
        verdict = "within" if max(growth, peak_rise) < ALLOWED_GROWTH_KIB else "OVER"
        print(
            f"overall: VmRSS {start['VmRSS']} KiB before -> {end['VmRSS']} KiB after ({growth:+d} KiB); "
            f"peak VmHWM {start['VmHWM']} -> {end['VmHWM']} KiB ({peak_rise:+d} KiB); "
            f"limit {ALLOWED_GROWTH_KIB} KiB: {verdict}"
        )
        if max(growth, peak_rise) >= ALLOWED_GROWTH_KIB:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
