"""Unknown query parameters are a 400 problem, never silently ignored.

A misspelt filter (``?provinsi=73``, ``?asof=…``) would otherwise answer as if it were not there: the whole list, or
today's numbers for a question about last year. Every ``/api/v1`` operation refuses query parameters it does not
declare, naming them and the ones it takes. A value with a NUL character is refused too: PostgreSQL cannot hold one
in a text value, so a filter with it failed in the database instead of answering (SQLite would have matched
nothing), the same 400 on both.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant

from app.api.operations import dependants
from app.core.i18n import Message
from app.core.problems import BadRequest, InvalidParam


async def refuse_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    dependant: Dependant | None = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    declared = {param.alias for node in dependants(dependant) for param in node.query_params}
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise BadRequest(
            Message(
                "Unknown query parameter(s): {unknown}. This operation takes: {takes}.",
                unknown=", ".join(unknown),
                takes=", ".join(sorted(declared)) or "none",
            ),
            invalid_params=[
                InvalidParam(name=f"query.{name}", reason="not a parameter of this operation") for name in unknown
            ],
        )
    with_nul = sorted({name for name, value in request.query_params.multi_items() if "\x00" in value})
    if with_nul:
        raise BadRequest(
            Message("Query parameter(s) with a NUL character: {names}.", names=", ".join(with_nul)),
            invalid_params=[InvalidParam(name=f"query.{name}", reason="contains a NUL character") for name in with_nul],
        )
