"""Which operation a request names, matched once per request, its path template, and which methods its path allows.

The middleware outside FastAPI's router (the metrics, the access and rate-limit middleware, the JSON body check)
need the operation before the router runs: it is matched once and kept in the request state. A 405 lists every
method of the path in ``Allow`` (RFC 9110 §15.5.6), not only the first route's (Starlette's default). ``dependants``
walks an operation's dependency tree, for what its dependants declare (scopes, query parameters).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
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


def _matched(scope: Scope) -> RouteContext | None:
    """The route context the request's method and path name, matched once and kept in the request state."""
    state = scope.setdefault("state", {})
    if _OPERATION_STATE not in state:
        state[_OPERATION_STATE] = None
        for operation in _operations(scope["app"]):
            match, child_scope = operation.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)  # path parameters known early, as the router will set them anyway
                state[_OPERATION_STATE] = operation
                break
    matched: RouteContext | None = state[_OPERATION_STATE]
    return matched


def matched_operation(scope: Scope) -> BaseRoute | None:
    """The route the request's method and path name, or None (then the router answers 404 or 405)."""
    matched = _matched(scope)
    return matched.original_route if matched is not None else None


def _path_matches(scope: Scope) -> Iterator[RouteContext]:
    """Every route whose path is the request's, whatever its method."""
    return (operation for operation in _operations(scope["app"]) if operation.matches(scope)[0] is not Match.NONE)


def route_template(scope: Scope) -> str | None:
    """The path template (``/api/v1/cases/{case_id}``) of the route the request's path names, whatever its method;
    None when no route has that path."""
    operation = _matched(scope) or next(_path_matches(scope), None)
    template: str | None = operation.path_format if operation is not None else None
    return template


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route of the request's path answers, for a 405's ``Allow``."""
    return sorted({method for operation in _path_matches(scope) for method in operation.methods or ()})


def dependants(dependant: Dependant) -> Iterator[Dependant]:
    """An operation's dependant and, recursively, every dependant below it."""
    yield dependant
    for sub_dependant in dependant.dependencies:
        yield from dependants(sub_dependant)
