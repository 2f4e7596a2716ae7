"""OpenAPI post-processing: problem+json everywhere an error can come back."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.problems import PROBLEM_MEDIA_TYPE, InvalidParam, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=[{"url": "/"}],
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["Problem"].pop("$defs", None)
    components["InvalidParam"] = InvalidParam.model_json_schema()
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses: dict[str, Any] = operation.get("responses", {})
            for status, response in responses.items():
                if status[:1] in {"4", "5"}:
                    response["content"] = _problem_content()
            if "422" in responses:
                responses["422"]["description"] = "The request is not valid"
            responses.setdefault("500", {"description": "Internal server error", "content": _problem_content()})
    return schema


def install_openapi(app: FastAPI) -> None:
    def cached_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = cached_openapi  # type: ignore[method-assign]
