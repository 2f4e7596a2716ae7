"""Helpers for tests that start SBT server processes: a free port, and waiting until one answers ``/ready``."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(url: str, process: subprocess.Popen[str] | subprocess.Popen[bytes], deadline: float) -> None:
    """Poll ``url/ready`` until it answers 200; fail the test if the process exits or the deadline passes."""
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"server {url} did not start (exit status {process.poll()})")
        time.sleep(0.2)


@contextlib.contextmanager
def sbt_serve(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """``sbt serve`` on a free port with ``env``, ready; yields its base URL and stops it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(url, process, time.monotonic() + 120)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
