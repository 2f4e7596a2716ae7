"""The architecture holds: layers point one way, no package cycles, one place commits, no hidden ORM hooks.

The allowed arrows are the import-linter contracts in ``pyproject.toml`` (``lint-imports`` checks them from the
command line); these tests run the same check, and prove it bites by adding a deliberately wrong module to a copy
of the package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own tool on our own tree
        [str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project,
        env=os.environ | {"PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The package and its contracts, copied so that a test can add a module that breaks them."""
    shutil.copytree(APP, tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_contract_is_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("fixture_module", "source", "broken_contract", "reported_import"),
    [
        pytest.param(
            "core/upward_fixture.py",
            "from app.api import routes\n",
            "Layers point one way",
            "app.core.upward_fixture -> app.api.routes",
            id="core imports the web layer",
        ),
        pytest.param(
            "ledger/upward_fixture.py",
            "from app.cases import service\n",
            "Layers point one way",
            "app.ledger.upward_fixture -> app.cases.service",
            id="ledger imports a domain above it",
        ),
        pytest.param(
            "cases/web_fixture.py",
            "import fastapi\n",
            "Only the web layer and the entry points import the web framework",
            "app.cases.web_fixture -> fastapi",
            id="a domain imports fastapi",
        ),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    project_copy: Path, fixture_module: str, source: str, broken_contract: str, reported_import: str
) -> None:
    (project_copy / "app" / fixture_module).write_text(f'"""Deliberately wrong (architecture test)."""\n\n{source}')
    result = lint_imports(project_copy)
    assert result.returncode == 1, result.stdout
    assert re.search(re.escape(broken_contract) + r".* BROKEN", result.stdout)
    assert reported_import in result.stdout


def _python_sources() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def test_only_the_transaction_helper_commits() -> None:
    helper = APP / "core" / "db.py"
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _python_sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ".commit(" in line and path != helper
    ]
    assert offenders == [], "commit through app.core.db.transaction instead"
    assert helper.read_text(encoding="utf-8").count(".commit(") == 1


SESSION_LISTENER = re.compile(r"(listens_for|event\.listen)\(\s*(Session|sessionmaker)\b")


def test_no_global_orm_session_listener() -> None:
    offenders = [
        str(path.relative_to(ROOT)) for path in _python_sources() if SESSION_LISTENER.search(path.read_text("utf-8"))
    ]
    assert offenders == [], "the write flow calls each step explicitly"
