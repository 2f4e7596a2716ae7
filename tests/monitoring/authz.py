"""Authorization matrix rows: the public monitoring page and its style sheet (aggregates only, no login)."""

from tests.authz import PUBLIC, Row

ROWS = [
    Row("GET", "/monitoring", PUBLIC),
    Row("GET", "/monitoring/monitoring.css", PUBLIC),
]
