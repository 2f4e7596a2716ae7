"""Authorization matrix rows: reference data (read with cases:read)."""

from tests.authz import READERS, Row

ROWS = [
    Row("GET", f"/api/v1/reference/{name}", READERS)
    for name in (
        "agencies",
        "violation-forms",
        "sanctions",
        "sanction-matrix",
        "employee-kinds",
        "position-categories",
        "provinces",
        "import-template.xlsx",
        "import-template.csv",
    )
]
