"""Settings: SBT_ environment variables, the SQLite default, and no placeholder secrets outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import PLACEHOLDER_SECRET, Environment, Settings


def test_default_database_is_sqlite_under_the_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SBT_DATABASE_URL", raising=False)
    monkeypatch.setenv("SBT_DATA_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.as_posix()}/sbt.db"
    assert settings.is_sqlite


def test_settings_come_from_sbt_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBT_PPK_FOLLOW_UP_DAYS", "14")
    monkeypatch.setenv("SBT_DATABASE_URL", "postgresql+psycopg://sbt@db/sbt")
    settings = Settings(_env_file=None)
    assert settings.ppk_follow_up_days == 14
    assert not settings.is_sqlite


@pytest.mark.parametrize("environment", [Environment.TESTING, Environment.PRODUCTION])
def test_placeholder_secret_is_refused_outside_development(environment: Environment) -> None:
    with pytest.raises(ValidationError, match="SBT_SECRET_KEY"):
        Settings(_env_file=None, environment=environment, secret_key=PLACEHOLDER_SECRET)
    assert Settings(_env_file=None, environment=Environment.DEVELOPMENT).secret_key == PLACEHOLDER_SECRET
