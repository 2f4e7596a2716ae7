"""Helpers for tests that start SBT server processes: a free port, waiting until one answers ``/ready``, and
witness processes (``sbt witness serve``)."""

from __future__ import annotations

import contextlib
import signal
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


class WitnessProcess:
    """A real ``sbt witness serve`` subprocess on a free loopback port, with its key and state files in ``folder``;
    ``kill()`` is SIGKILL (nothing flushed on the way out), ``start()`` runs it again on the same files."""

    def __init__(self, folder: Path, name: str, log_keys: list[str]) -> None:
        self.folder = folder
        self.name = name
        self.log_keys = log_keys
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._vkey: str | None = None

    @property
    def key_file(self) -> Path:
        return self.folder / f"{self.port}.key"

    def _command(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "app.witness", *arguments, "--key-file", str(self.key_file)]

    def vkey(self) -> str:
        """The witness's cosignature key, as ``sbt witness key`` prints it (asked once)."""
        if self._vkey is None:
            result = subprocess.run(  # noqa: S603 - our own command
                [*self._command("key"), "--name", self.name], capture_output=True, text=True, check=True
            )
            self._vkey = result.stdout.strip()
        return self._vkey

    def start(self) -> WitnessProcess:
        self.launch()
        return self.wait()

    def launch(self) -> None:
        """Start the process without waiting for it (start several, then ``wait`` for each)."""
        log_options = [option for key in self.log_keys for option in ("--log-key", key)]
        command = self._command("serve")
        command += ["--name", self.name, "--state", str(self.folder / f"{self.port}.db"), "--port", str(self.port)]
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            command + log_options, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def wait(self) -> WitnessProcess:
        assert self.process is not None
        try:
            wait_until_ready(self.url, self.process, time.monotonic() + 120)
        except BaseException:
            self.kill()  # a witness that did not come up is not left running
            raise
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
