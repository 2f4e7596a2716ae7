"""Sending what a write flow replied, and the response headers routes declare in the contract."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Response
from pydantic import BaseModel

from app.idempotency.service import Reply
from app.ledger.schemas import LEAF_HASH_HEADER, PREFERENCE_APPLIED_HEADER, PROOF_PREFERENCE, SEQ_HEADER

Body = TypeVar("Body", bound=BaseModel)


def send(reply: Reply[Body], response: Response) -> Body:
    """The reply's body, with its headers (Location, ETag) on the response; the route declares the status."""
    response.headers.update(reply.headers)
    return reply.body


RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "The resource's version; send it back in `If-Match` to change the resource.",
        "schema": {"type": "string", "examples": ['"3"']},
    },
    "Location": {"description": "Where the created resource is.", "schema": {"type": "string"}},
    "RateLimit-Policy": {
        "description": 'The client\'s quota (IETF draft-ietf-httpapi-ratelimit-headers), e.g. `"default";q=600;w=60`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of the quota and when it resets, e.g. `"default";r=599;t=42`.',
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "The Bearer (RFC 6750) and DPoP (RFC 9449, with `algs`) challenges; the scheme the request "
        "used carries the error: `invalid_token`, `invalid_request`, `insufficient_scope` or `invalid_dpop_proof`.",
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}},
    SEQ_HEADER: {
        "description": "Where the write was recorded: the ledger position of every entry it appended, in log order "
        "(comma-separated; the first records the requested change). Also in the body's `receipt`.",
        "schema": {"type": "string", "examples": ["41", "41, 42"]},
    },
    LEAF_HASH_HEADER: {
        "description": "The leaf hash (base64 SHA-256) of each entry in `Ledger-Seq`, in the same order: keep it as "
        "proof of what was submitted and check it with `GET /api/v1/ledger/proofs/inclusion`.",
        "schema": {"type": "string"},
    },
    PREFERENCE_APPLIED_HEADER: {
        "description": "`ledger-proof` when the request sent `Prefer: ledger-proof` (RFC 7240) and the body's "
        "`receipt` carries each entry's `inclusion_proof` and the signed `checkpoint` they lead to. Absent when the "
        "write appended no entry.",
        "schema": {"type": "string", "enum": [PROOF_PREFERENCE]},
    },
    "Content-Language": {
        "description": "The language of the texts for people (a problem's `title` and `detail`, a finding's "
        "`message`, a rule's `description`): `id` when `Accept-Language` prefers Indonesian, else `en`.",
        "schema": {"type": "string", "enum": ["id", "en"]},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
"""Every response header the contract declares, described once: routes pick theirs with ``declared_headers``,
the OpenAPI post-processing adds those every response of a kind carries."""


RECEIPT_HEADERS = (SEQ_HEADER, LEAF_HASH_HEADER)
"""A ledger-recording write's receipt (``LedgerReceipt.headers``)."""


def declared_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose ``status`` response carries these headers (see ``RESPONSE_HEADERS``)."""
    return {status: {"headers": declared(*names)}}


def declared(*names: str) -> dict[str, dict[str, Any]]:
    """The header objects of ``names``, for a response's ``headers``."""
    return {name: RESPONSE_HEADERS[name] for name in names}
