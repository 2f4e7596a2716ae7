"""Imports every domain's ORM models so that the mapper registry and Alembic see all tables."""

from app.audit import models as audit_models
from app.auth import models as auth_models
from app.cases import models as cases_models
from app.idempotency import models as idempotency_models
from app.ledger import models as ledger_models
from app.reconciliation import models as reconciliation_models
from app.reference import models as reference_models
from app.webhooks import models as webhooks_models

__all__ = [
    "audit_models",
    "auth_models",
    "cases_models",
    "idempotency_models",
    "ledger_models",
    "reconciliation_models",
    "reference_models",
    "webhooks_models",
]
