"""``sbt serve`` logs at the configured level, uvicorn's own lines included (its access log, on standard output, is
INFO like the start-up lines read here on standard error)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.servers import sbt_servers

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]


def _served_log(tmp_path: Path, level: str) -> str:
    folder = tmp_path / level
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBT_")} | {
        "SBT_DATABASE_URL": f"sqlite:///{folder}/sbt.db",
        "SBT_DATA_DIR": str(folder),
        "SBT_LOG_LEVEL": level,
    }
    with sbt_servers(env, REPO_ROOT, 1, log_dir=folder) as (url,):
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    (log,) = folder.glob("replica-*.log")
    return log.read_text()


def test_uvicorn_logs_at_the_configured_level(tmp_path: Path) -> None:
    assert "INFO:     Application startup complete." in _served_log(tmp_path, "INFO")

    quiet = _served_log(tmp_path, "WARNING")
    assert "demo OAuth clients created" in quiet  # SBT's own start-up message, not a log line
    assert "INFO:" not in quiet
