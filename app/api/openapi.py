"""OpenAPI post-processing: problem+json everywhere an error can come back, in the language ``Accept-Language``
asks for (``Content-Language``); If-Match stated as required; the headers every response carries (rate limit,
challenge, Retry-After, Idempotent-Replayed); ``Prefer: ledger-proof`` and ``Preference-Applied`` on every write
that answers with a receipt; ``security: []`` on the public operations.

``If-Match`` is declared optional in Python so that a missing header reaches ``check_if_match`` and is answered
428 Precondition Required (RFC 6585), not a generic 422; the contract states what the server enforces: required."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.json_body import CHECKED_PREFIX as JSON_CHECKED_PREFIX
from app.api.ratelimit import LIMITED_PREFIX as RATE_LIMITED_PREFIX
from app.api.responses import declared
from app.auth.dpop import MAX_PROOF_LENGTH, PROOF_ALGORITHMS
from app.core.problems import PROBLEM_MEDIA_TYPE, BatchProblem, InvalidParam, Problem
from app.ledger.schemas import PREFERENCE_APPLIED_HEADER, PROOF_PREFERENCE, SEQ_HEADER

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_CONTENT_LANGUAGE = {"Content-Language": {"$ref": "#/components/headers/Content-Language"}}
"""Every problem response carries it: described once, referred to from each."""


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}


_RATE_LIMITED = {
    "description": "Too many requests from this client (per-client quota); retry after `Retry-After` seconds",
}


CLIENTS_PATH = "/api/v1/clients"
_LEDGER_BUSY = {
    "description": "The ledger is busy (`ledger-busy`): more writes wait for their ledger positions than "
    "`SBT_LEDGER_MAX_BACKLOG`, nothing was written; or this write is committed but not yet in the ledger after "
    "`SBT_LEDGER_SEQUENCE_TIMEOUT_SECONDS` (retry with the same Idempotency-Key to read its receipt). Also "
    "`ledger-integrity-failure` when the stored log contradicts its signed checkpoints. Retry after `Retry-After`."
}
_TOO_LARGE = {"description": "The request body is larger than `SBT_MAX_BODY_BYTES` (default 1 MiB)"}
_MALFORMED = {"description": "The request body is not JSON, or nests arrays/objects deeper than 32 levels"}
_UNSUPPORTED = {
    "description": "The request body is not UTF-8 `application/json` (another media type, charset or a BOM)"
}


def _has_own_error_model(response: dict[str, Any]) -> bool:
    """True for errors a route documents with its own model (e.g. RFC 6749 OAuth errors), which stay as declared."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    return bool(ref) and not ref.endswith(("/Problem", "/HTTPValidationError"))


def _states_own_problem(response: dict[str, Any]) -> bool:
    """True for a problem+json response declared with a Problem extension (e.g. BatchProblem), kept as declared."""
    schema = response.get("content", {}).get(PROBLEM_MEDIA_TYPE, {}).get("schema", {})
    return str(schema.get("$ref", "")).removeprefix("#/components/schemas/") in _PROBLEM_EXTENSIONS


_PROBLEM_EXTENSIONS = {"BatchProblem"}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        license_info=app.license_info,
        routes=app.routes,
        servers=[{"url": "/"}],
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["Problem"].pop("$defs", None)
    components["InvalidParam"] = InvalidParam.model_json_schema()
    batch_problem = BatchProblem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(batch_problem.pop("$defs", {}))
    components["BatchProblem"] = batch_problem
    schema["components"]["headers"] = declared("Content-Language")
    schemes = schema["components"].setdefault("securitySchemes", {})
    schemes["ClientSecretBasic"] = {
        "type": "http",
        "scheme": "basic",
        "description": "OAuth client authentication at `/oauth/token` (RFC 6749 §2.3.1): client_id and secret.",
    }
    schemes["DPoP"] = {
        "type": "http",
        "scheme": "DPoP",
        "description": "A DPoP-bound access token (RFC 9449: `token_type` `DPoP` from `/oauth/token` when the request "
        "carried a DPoP proof, or from Keycloak): `Authorization: DPoP <token>` plus a `DPoP` header with a fresh "
        "proof for this request (`typ` `dpop+jwt`, the public `jwk`, `htm`, `htu`, `iat`, unique `jti`, `ath`), "
        f"signed with the key the token names in `cnf.jkt`; algorithms {', '.join(PROOF_ALGORITHMS)}. Same scopes "
        "as OAuth2. A bound token sent as `Bearer` is refused.",
    }
    schemes["MetricsToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "`SBT_METRICS_TOKEN` for `/metrics`, when the server sets one (not an OAuth access token).",
    }
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header" and parameter["name"] == "If-Match":
                    parameter["required"] = True
                    parameter["schema"] = {"type": "string", "minLength": 1, "title": "If-Match"}
            responses: dict[str, Any] = operation.get("responses", {})
            if path.startswith(RATE_LIMITED_PREFIX):
                responses.setdefault("429", dict(_RATE_LIMITED))
            if "requestBody" in operation:
                responses.setdefault("413", dict(_TOO_LARGE))
                if path.startswith(JSON_CHECKED_PREFIX):
                    responses.setdefault("415", dict(_UNSUPPORTED))
                    responses.setdefault("400", dict(_MALFORMED))
            operation.setdefault("security", [])  # public: health, discovery, the token endpoint itself
            receipted = _receipted(path, responses)
            if receipted or (method == "post" and path.startswith(CLIENTS_PATH)):  # the registry: not receipted
                responses.setdefault("503", dict(_LEDGER_BUSY))
            if receipted:
                operation.setdefault("parameters", []).append(dict(_PREFER_PARAMETER))
            _offer_dpop(operation)
            takes_idempotency_key = any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
            for status, response in responses.items():
                headers = response.setdefault("headers", {})
                if status[:1] in {"4", "5"} and not _has_own_error_model(response):
                    if not _states_own_problem(response):
                        response["content"] = _problem_content()
                    headers.update(_CONTENT_LANGUAGE)
                if path.startswith(RATE_LIMITED_PREFIX):
                    headers.update(declared("RateLimit-Policy", "RateLimit"))
                if status in {"401", "403"}:
                    headers.update(declared("WWW-Authenticate"))
                if status in {"429", "503"}:
                    headers.update(declared("Retry-After"))
                if status[:1] == "2" and takes_idempotency_key:
                    headers.update(declared("Idempotent-Replayed"))
                if status[:1] == "2" and receipted:
                    headers.update(declared(PREFERENCE_APPLIED_HEADER))
                if not headers:
                    del response["headers"]
            if "422" in responses:
                responses["422"]["description"] = "The request is not valid"
            responses.setdefault(
                "500",
                {
                    "description": "Internal server error",
                    "content": _problem_content(),
                    "headers": dict(_CONTENT_LANGUAGE),
                },
            )
    return schema


def _receipted(path: str, responses: dict[str, Any]) -> bool:
    """A write that answers with a receipt: in its headers, or (a batch) in its body."""
    success = [response for status, response in responses.items() if status[:1] == "2"]
    return path.endswith(":batch") or any(SEQ_HEADER in response.get("headers", {}) for response in success)


_PREFER_PARAMETER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": f"`{PROOF_PREFERENCE}` (RFC 7240; other preferences are ignored): the body's `receipt` then also "
    "carries each entry's RFC 9162 `inclusion_proof` and the C2SP signed `checkpoint` they lead to, so the write "
    f"can be verified offline without another call (answered with `{PREFERENCE_APPLIED_HEADER}: {PROOF_PREFERENCE}`)."
    " An Idempotency-Key replay sending it gets the proofs too. Without it the write costs nothing more.",
    "schema": {"type": "string", "examples": [PROOF_PREFERENCE]},
}


_DPOP_PROOF_PARAMETER = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "description": "With `Authorization: DPoP <token>`: the DPoP proof for this request (RFC 9449 §4), at most "
    f"{MAX_PROOF_LENGTH} characters (a longer one is refused with 401 `invalid_dpop_proof`). Ignored with `Bearer`.",
    "schema": {"type": "string"},
}


def _offer_dpop(operation: dict[str, Any]) -> None:
    """Where an OAuth2 access token is accepted, a DPoP-bound one is too (same scopes), with its proof header."""
    for requirement in list(operation["security"]):
        if "OAuth2" in requirement:
            operation["security"].append({"DPoP": requirement["OAuth2"]})
            operation.setdefault("parameters", []).append(dict(_DPOP_PROOF_PARAMETER))


def install_openapi(app: FastAPI) -> None:
    def cached_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = cached_openapi  # type: ignore[method-assign]


def render_openapi(app: FastAPI) -> str:
    """The committed contract's exact text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(app.openapi(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
