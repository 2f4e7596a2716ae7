"""Rebuild ``app/reference/data/instansi.json`` from a Kemendagri region-code file and the central K/L list.

The regional rows (38 provinces, 416 kabupaten, 98 kota) come from the ``db/wilayah.sql`` file of the public
dataset cahyadsn/wilayah (MIT; the codes of Kepmendagri No 300.2.2-2430 Tahun 2025): only its province (``NN``)
and kabupaten/kota (``NN.NN``) rows are kept. Province names are the repository's own (``provinces.json``), so the
two reference lists agree. The central rows are kept as they are in the current file. Usage:

    .venv/bin/python scripts/build_instansi_data.py path/to/wilayah.sql

A new Kepmendagri decree means a new data file and a new migration that adds (never renames) its codes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from app.reference.seed import DATA_DIR

ROW = re.compile(r"\('([0-9]{2}(?:\.[0-9]{2})?)','([^']*)'\)")
TARGET = DATA_DIR / "instansi.json"


def regional_rows(sql: str) -> list[dict[str, str | None]]:
    provinces = {row["code"]: row["name"] for row in json.loads((DATA_DIR / "provinces.json").read_text("utf-8"))}
    rows: list[dict[str, str | None]] = []
    for code, raw_name in ROW.findall(sql):
        name = " ".join(raw_name.split())
        if len(code) == 2:  # a province code; kabupaten/kota codes are NN.NN
            kind, region = "PROVINSI", f"Provinsi {provinces[code]}"
        else:
            kind = "KABUPATEN" if name.startswith("Kabupaten ") else "KOTA"
            region = name
        rows.append(
            {"code": code, "name": f"Pemerintah {region}", "kind": kind, "region_code": code, "province_code": code[:2]}
        )
    return rows


def main(source: Path) -> None:
    central = [row for row in json.loads(TARGET.read_text("utf-8")) if row["region_code"] is None]
    rows = regional_rows(source.read_text("utf-8")) + central
    TARGET.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(f"{len(rows)} instansi written to {TARGET}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
