"""Every shell block of README.md runs as written on a fresh clone after ``./run``.

The blocks fenced as ``sh`` or ``bash`` run in order in one bash session (so what one block defines, such as
``token`` or ``CASE``, the next can use, as in a reader's terminal), with ``set -eo pipefail`` and ``curl`` made to
fail on an HTTP error (``--fail-with-body``: a 4xx or 5xx answer fails the block and shows the problem). The test
fails with the block and its output.

The service is started the way a reader starts it: ``./run``, in a temporary directory that looks like a fresh
clone (a link to each tracked top-level entry of the repository and to ``.venv``, no ``data/``), so it creates a new
SQLite database and the demo clients in that directory's ``data/``; files the blocks write stay there. Two
departures from "as written", both mechanical: ``./run`` gets a free port (``SBT_PORT``), and the README's address
``http://127.0.0.1:8000`` is replaced by that port's.

Excluded: a block right after the line ``<!-- readme-test: skip (why) -->`` in README.md. That marks the first
block (``./run`` serves until stopped, the test starts it itself; ``./test`` would run this suite recursively) and
the blocks that need what a fresh clone lacks (a PostgreSQL server, an external OAuth issuer) or run the suite.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.common import free_port, wait_until_ready

pytestmark = pytest.mark.slow  # starts the service and runs the whole walk-through: ./test runs it, --fast does not

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_ADDRESS = "http://127.0.0.1:8000"
SKIP_MARKER = re.compile(r"<!-- readme-test: skip \((?P<why>[^)]+)\) -->")
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
SHELLS = {"sh", "bash"}


@dataclass(frozen=True)
class Block:
    line: int
    text: str
    skip: str | None


def shell_blocks(markdown: str) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(markdown):
        if match["lang"] not in SHELLS:
            continue
        before = markdown[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = SKIP_MARKER.fullmatch(before.strip())
        line = markdown.count("\n", 0, match.start()) + 1
        blocks.append(Block(line=line, text=match["body"], skip=marker["why"] if marker else None))
    return blocks


def test_the_readme_opens_with_the_two_commands_and_marks_what_it_does_not_run() -> None:
    markdown = README.read_text(encoding="utf-8")
    blocks = shell_blocks(markdown)
    first = blocks[0]
    assert [line.split()[0] for line in first.text.splitlines()] == ["./run", "./test"]
    assert first.skip is not None
    assert markdown.index(first.text) < markdown.index("\n## ")  # the README's first lines, before any section
    assert sum(block.skip is None for block in blocks) >= 6, "most blocks must run"
    for block in blocks:  # a skipped block is skipped for a stated reason, and nothing else is
        runs_the_suite = any(line.lstrip().startswith(("./test", "bash .ci/run")) for line in block.text.splitlines())
        serves = any(re.match(r"(\S+=\S+ )*\./run\b", line.strip()) for line in block.text.splitlines())
        if runs_the_suite or serves:
            assert block.skip, f"README.md line {block.line} runs ./test or ./run but is not marked"


def _fresh_clone(target: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in sorted({path.split("/", 1)[0] for path in tracked.splitlines()} | {".venv"}):
        if name != "data" and (ROOT / name).exists():
            (target / name).symlink_to(ROOT / name)


@contextlib.contextmanager
def served_by_run(clone: Path) -> Iterator[str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SBT_")}
    env |= {"SBT_PORT": str(port), "SBT_HOST": "127.0.0.1", "SBT_LOG_LEVEL": "WARNING"}
    log = (clone / "run.log").open("w")
    process = subprocess.Popen(["./run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(address, process, seconds=120)
        except RuntimeError:
            pytest.fail(f"./run did not start: {(clone / 'run.log').read_text()}")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_every_shell_block_of_the_readme_runs_against_a_live_service(tmp_path: Path) -> None:
    blocks = [block for block in shell_blocks(README.read_text(encoding="utf-8")) if block.skip is None]
    clone = tmp_path / "sbt"
    clone.mkdir()
    _fresh_clone(clone)
    with served_by_run(clone) as address:
        script = [
            'curl() { command curl --fail-with-body "$@"; }',
            "set -o pipefail",
        ]
        for number, block in enumerate(blocks):
            path = clone / f".readme-block-{number}.sh"
            path.write_text(block.text.replace(README_ADDRESS, address), encoding="utf-8")
            script += [f"echo '@@block {number}@@'", "set -e", f"source {path.name}", "set +e"]
            script.append(f"echo '@@ok {number}@@'")
        env = {key: value for key, value in os.environ.items() if not key.startswith("SBT_")}
        log = clone / ".readme-output.txt"
        with log.open("w") as sink:
            shell = subprocess.Popen(  # noqa: S603 - the README's own blocks, which is the point
                ["bash", "-c", "\n".join(script)],  # noqa: S607 - bash from PATH, as a reader's terminal
                cwd=clone,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its own process group: what a block started in the background dies too
            )
            try:
                returncode: int | str = shell.wait(timeout=900)
            except subprocess.TimeoutExpired:
                returncode = "timed out after 900 s"
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(shell.pid, signal.SIGKILL)
                shell.wait()
    output = log.read_text(encoding="utf-8", errors="replace")
    for number, block in enumerate(blocks):
        start = output.find(f"@@block {number}@@")
        end = output.find(f"@@ok {number}@@")
        if start < 0 or end < 0:
            shown = output[start:] if start >= 0 else output
            pytest.fail(
                f"README.md block at line {block.line} failed (bash exit {returncode}):\n{block.text}\n"
                f"--- its output ---\n{shown[-6000:]}"
            )
