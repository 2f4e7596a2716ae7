"""Helpers for tests that start SBT server processes: a free port, waiting until one answers ``/ready``, and
witness processes (``sbt witness serve``)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import common as bench_common
from bench.common import free_port as free_port  # the tests take it from here


def wait_until_ready(url: str, process: subprocess.Popen[str] | subprocess.Popen[bytes], deadline: float) -> None:
    """Poll ``url/ready`` until it answers 200; fail the test if the process exits or the deadline passes."""
    try:
        bench_common.wait_until_ready(url, process, seconds=max(0.0, deadline - time.monotonic()))
    except RuntimeError:
        pytest.fail(f"server {url} did not start (exit status {process.poll()})")


@contextlib.contextmanager
def sbt_servers(
    env: dict[str, str], cwd: Path, count: int, *, log_dir: Path | None = None, seconds: float = 120
) -> Iterator[list[str]]:
    """``count`` ``sbt serve`` processes on free ports with ``env``, all ready; yields their base URLs and stops
    them afterwards. With ``log_dir`` each one's standard error goes to ``replica-<port>.log`` there."""
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if log_dir is None else (log_dir / f"replica-{port}.log").open("w"),
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + seconds
        for url, process in zip(urls, processes, strict=True):
            wait_until_ready(url, process, deadline)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


@contextlib.contextmanager
def sbt_serve(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """``sbt serve`` on a free port with ``env``, ready; yields its base URL and stops it afterwards."""
    with sbt_servers(env, cwd, 1) as (url,):
        yield url


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
