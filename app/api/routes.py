"""Every domain router, mounted under the versioned prefix."""

from fastapi import APIRouter, Depends

from app.api.dependencies.query import refuse_unknown_query_parameters
from app.api.routers.audit import router as audit_router
from app.api.routers.audit_bridge import router as audit_bridge_router
from app.api.routers.auth import clients_router, oauth_router
from app.api.routers.cases import router as cases_router
from app.api.routers.changes import router as changes_router
from app.api.routers.health import router as health_router
from app.api.routers.ledger import router as ledger_router
from app.api.routers.metrics import router as metrics_router
from app.api.routers.monitoring import router as monitoring_router
from app.api.routers.reconciliation import router as reconciliation_router
from app.api.routers.reference import router as reference_router
from app.api.routers.reports import router as reports_router
from app.api.routers.state_audit import router as state_audit_router
from app.api.routers.webhooks import deliveries_router as webhook_deliveries_router
from app.api.routers.webhooks import router as webhooks_router

API_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(refuse_unknown_query_parameters)])
api_router.include_router(reference_router)
api_router.include_router(cases_router)
api_router.include_router(reports_router)
api_router.include_router(ledger_router)
api_router.include_router(state_audit_router)
api_router.include_router(reconciliation_router)
api_router.include_router(clients_router)
api_router.include_router(audit_router)
api_router.include_router(audit_bridge_router)
api_router.include_router(changes_router)
api_router.include_router(webhooks_router)
api_router.include_router(webhook_deliveries_router)

root_router = APIRouter()
root_router.include_router(health_router)
root_router.include_router(metrics_router)
root_router.include_router(oauth_router)
root_router.include_router(monitoring_router)
