"""Imports every domain's ORM models so that the mapper registry and Alembic see all tables."""

from app.auth import models as auth_models
from app.cases import models as cases_models
from app.idempotency import models as idempotency_models
from app.ledger import models as ledger_models
from app.reference import models as reference_models

__all__ = ["auth_models", "cases_models", "idempotency_models", "ledger_models", "reference_models"]
