"""Authorization matrix rows: probes and API documentation (public, no data), and the metrics endpoint.

``/metrics`` is off by default (404 for everyone, whatever token); with it on, only the metrics token opens it
(tests/core/test_metrics.py): OAuth access tokens never do."""

from tests.authz import PUBLIC, Row, statuses

ROWS = [
    Row("GET", "/health", PUBLIC),
    Row("GET", "/ready", PUBLIC),
    Row("GET", "/metrics", statuses(anonymous=404, agencies=404, auditor=404, admin=404)),
    Row("GET", "/openapi.json", PUBLIC),
    Row("GET", "/docs", PUBLIC),
    Row("GET", "/docs/oauth2-redirect", PUBLIC),
    Row("GET", "/redoc", PUBLIC),
]
