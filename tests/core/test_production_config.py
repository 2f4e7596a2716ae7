"""Production refuses to start wrong: each missing or wrong setting is one line naming its variable, from the
settings loader and from every entry point (``sbt serve``, ``sbt migrate``, the ASGI app), with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.config import ConfigurationError, get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
VALID = {
    "SBT_ENVIRONMENT": "production",
    "SBT_DATABASE_URL": "postgresql+psycopg://sbt:secret@db.internal/sbt",
    "SBT_SECRET_KEY": "k" * 40,
    "SBT_AUTH_ISSUER": "https://sbt.bkn.go.id",
}


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A valid production environment (no .env file: the test runs in an empty folder)."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("SBT_")]:
        monkeypatch.delenv(name)
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _problems() -> list[str]:
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError) as raised:
        get_settings()
    return str(raised.value).splitlines()


def test_a_complete_production_configuration_starts(production_env: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    assert settings.auth_issuer == "https://sbt.bkn.go.id"
    assert not settings.is_sqlite


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SBT_DATABASE_URL", None, "SBT_DATABASE_URL is required in production"),
        ("SBT_DATABASE_URL", "sqlite:////var/lib/sbt/sbt.db", "SBT_DATABASE_URL must name a PostgreSQL database"),
        ("SBT_SECRET_KEY", None, "SBT_SECRET_KEY still holds the development placeholder"),
        ("SBT_SECRET_KEY", "short-secret", "SBT_SECRET_KEY must be at least 32 characters"),
        ("SBT_AUTH_ISSUER", None, "SBT_AUTH_ISSUER must be the service's public https:// URL"),
        ("SBT_AUTH_ISSUER", "http://sbt.bkn.go.id", "SBT_AUTH_ISSUER must be the service's public https:// URL"),
        ("SBT_AUTH_ISSUER", "https://localhost:8443", "SBT_AUTH_ISSUER must not name localhost"),
        ("SBT_AUTH_ISSUER", "https://127.0.0.1", "SBT_AUTH_ISSUER must not name a loopback or unspecified address"),
        ("SBT_AUTH_ISSUER", "https://[::]", "SBT_AUTH_ISSUER must not name a loopback or unspecified address"),
        ("SBT_PAGE_SIZE_MAX", "many", "SBT_PAGE_SIZE_MAX: Input should be a valid integer"),
    ],
)
def test_each_missing_or_wrong_setting_is_one_line_naming_it(
    production_env: pytest.MonkeyPatch, variable: str, value: str | None, named: str
) -> None:
    if value is None:
        production_env.delenv(variable)
    else:
        production_env.setenv(variable, value)
    [line] = _problems()
    assert line.startswith(f"configuration error: {named}")


def test_metrics_in_production_need_a_token(production_env: pytest.MonkeyPatch) -> None:
    production_env.setenv("SBT_METRICS_ENABLED", "true")
    [line] = _problems()
    assert line.startswith("configuration error: SBT_METRICS_TOKEN (32+ characters) is required in production")
    production_env.setenv("SBT_METRICS_TOKEN", "t" * 32)
    assert get_settings().metrics_enabled


def test_every_problem_is_reported_at_once(production_env: pytest.MonkeyPatch) -> None:
    for variable in ("SBT_DATABASE_URL", "SBT_SECRET_KEY", "SBT_AUTH_ISSUER"):
        production_env.delenv(variable)
    named = [line.removeprefix("configuration error: ").split()[0] for line in _problems()]
    assert named == ["SBT_SECRET_KEY", "SBT_DATABASE_URL", "SBT_AUTH_ISSUER"]


def test_a_private_network_issuer_is_accepted(production_env: pytest.MonkeyPatch) -> None:
    """Agencies' networks are closed: a private address is public enough; only loopback is refused."""
    production_env.setenv("SBT_AUTH_ISSUER", "https://10.20.30.40:8443")
    assert get_settings().auth_issuer == "https://10.20.30.40:8443"


def test_the_entry_points_print_one_line_and_create_nothing(tmp_path: Path) -> None:
    """``sbt migrate`` without a database URL must not fall back to a SQLite file; nor ``sbt serve``, nor
    ``uvicorn app.asgi:app``. Each prints one line naming the variable, with no traceback, and exits 1."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBT_")} | VALID | {"SBT_DATA_DIR": str(data_dir)}
    commands = {
        "SBT_DATABASE_URL": [sys.executable, "-m", "app.cli", "migrate"],
        "SBT_SECRET_KEY": [sys.executable, "-m", "app.cli", "serve", "--port", "9"],
        "SBT_AUTH_ISSUER": [sys.executable, "-m", "uvicorn", "app.asgi:app", "--port", "9"],
    }
    processes = {
        variable: subprocess.Popen(  # noqa: S603 - fixed arguments
            command,
            cwd=tmp_path,
            env={**{k: v for k, v in env.items() if k != variable}, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for variable, command in commands.items()
    }
    for variable, process in processes.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 1, (variable, stderr)
        assert stdout == ""
        [line] = stderr.splitlines()
        assert line.startswith(f"configuration error: {variable} ")
    assert not data_dir.exists()
