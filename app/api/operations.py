"""Which operation a request names, matched once per request, and which methods its path allows.

The middleware outside FastAPI's router (the access and rate-limit middleware, the JSON body check) need the
operation before the router runs: ``matched_operation`` matches it once and keeps it in the request state. A 405
lists every method of the path in ``Allow`` (RFC 9110 §15.5.6), not only the first route's (Starlette's default).
"""

from __future__ import annotations

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

_OPERATION_STATE = "sbt_operation"


def _operations(app: Starlette) -> list[RouteContext]:
    """The app's routes with included routers flattened, listed once per app (routes are fixed at start-up)."""
    operations: list[RouteContext] | None = getattr(app.state, "sbt_operations", None)
    if operations is None:
        operations = list(iter_route_contexts(app.router.routes))
        app.state.sbt_operations = operations
    return operations


def matched_operation(scope: Scope) -> BaseRoute | None:
    """The route the request's method and path name, or None (then the router answers 404 or 405)."""
    state = scope.setdefault("state", {})
    if _OPERATION_STATE not in state:
        state[_OPERATION_STATE] = None
        for operation in _operations(scope["app"]):
            match, child_scope = operation.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)  # path parameters known early, as the router will set them anyway
                state[_OPERATION_STATE] = operation.original_route
                break
    route: BaseRoute | None = state[_OPERATION_STATE]
    return route


def route_template(scope: Scope) -> str | None:
    """The path template (``/api/v1/cases/{case_id}``) of the route the request's path names, whatever its method;
    None when no route has that path."""
    for operation in _operations(scope["app"]):
        match, _ = operation.matches(scope)
        if match is not Match.NONE:
            template: str | None = operation.path_format
            return template
    return None


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route of the request's path answers, for a 405's ``Allow``."""
    methods: set[str] = set()
    for operation in _operations(scope["app"]):
        match, _ = operation.matches(scope)
        if match is not Match.NONE:
            methods |= set(operation.methods or ())
    return sorted(methods)
