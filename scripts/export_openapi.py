#!/usr/bin/env python
"""Write the app's OpenAPI document to openapi/openapi.json, or with --check fail when the committed one differs.

.venv/bin/python scripts/export_openapi.py          # regenerate after changing routes or schemas
.venv/bin/python scripts/export_openapi.py --check  # CI: exit 1 on drift
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from app.api.openapi import render_openapi
from app.core.config import Settings
from app.main import create_app

DOCUMENT = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def current_document() -> str:
    # The document must not depend on the local environment: default settings, throwaway data directory.
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(_env_file=None, data_dir=Path(data_dir)))
        try:
            return render_openapi(app)
        finally:
            app.state.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if openapi/openapi.json is out of date")
    args = parser.parse_args()
    document = current_document()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != document:
            sys.stderr.write(
                f"{DOCUMENT} is out of date; regenerate it with: .venv/bin/python scripts/export_openapi.py\n"
            )
            return 1
        return 0
    DOCUMENT.write_text(document, encoding="utf-8")
    sys.stdout.write(f"wrote {DOCUMENT}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
