"""Who acts: the five agencies, OAuth2 scopes, the authenticated principal and the context of a write.

Framework-free vocabulary shared by every domain: the ledger records the actor of each entry, services check the
acting agency, the web layer builds these from the verified token and the request.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Agency(enum.StrEnum):
    BAWASLU = "BAWASLU"
    KASN = "KASN"
    BKN = "BKN"
    KEMENDAGRI = "KEMENDAGRI"
    KEMENPANRB = "KEMENPANRB"


class Scope(enum.StrEnum):
    """OAuth2 scopes, ``resource:action``."""

    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    CASES_TRANSITION = "cases:transition"
    LEDGER_READ = "ledger:read"
    RECONCILIATION_RUN = "reconciliation:run"
    RECONCILIATION_READ = "reconciliation:read"
    RECONCILIATION_TRIAGE = "reconciliation:triage"
    AUDIT_READ = "audit:read"
    ADMIN_CLIENTS = "admin:clients"
    WEBHOOKS_MANAGE = "webhooks:manage"

    @property
    def description(self) -> str:
        return SCOPE_DESCRIPTIONS[self]


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.CASES_READ: "Read cases, agency records and reference data",
    Scope.CASES_WRITE: "Create cases and submit or update the calling agency's own record",
    Scope.CASES_TRANSITION: "Move cases through the handling workflow (agency rules apply)",
    Scope.LEDGER_READ: "Read ledger entries, checkpoints and proofs",
    Scope.RECONCILIATION_RUN: "Start reconciliation runs and per-case checks",
    Scope.RECONCILIATION_READ: "Read reconciliation findings and summaries",
    Scope.RECONCILIATION_TRIAGE: "Acknowledge, resolve, suppress or reopen findings",
    Scope.AUDIT_READ: "Read the auditor surface: history, statistics, exports, read-audit log",
    Scope.ADMIN_CLIENTS: "Manage OAuth clients",
    Scope.WEBHOOKS_MANAGE: "Manage the calling client's webhook subscriptions and read their delivery log",
}

AGENCY_SCOPES: frozenset[Scope] = frozenset(
    {
        Scope.CASES_READ,
        Scope.CASES_WRITE,
        Scope.CASES_TRANSITION,
        Scope.LEDGER_READ,
        Scope.RECONCILIATION_RUN,
        Scope.RECONCILIATION_READ,
        Scope.RECONCILIATION_TRIAGE,
        Scope.WEBHOOKS_MANAGE,
    }
)
"""Scopes an agency client may be granted."""

AUDITOR_SCOPES: frozenset[Scope] = frozenset(
    {Scope.CASES_READ, Scope.LEDGER_READ, Scope.RECONCILIATION_READ, Scope.AUDIT_READ, Scope.WEBHOOKS_MANAGE}
)
"""Read-only scopes of an auditor client (its webhook subscriptions say where to be told, they change no data)."""


class Role(enum.StrEnum):
    AGENCY = "agency"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    role: Role
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    agency: Agency | None = None


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Everything a writing service needs to know about the request (or command) that caused the write."""

    principal: Principal
    body_sha256: str
    request_id: str
    ledger_proof: bool = False
    """The caller asked (``Prefer: ledger-proof``) for its receipt with inclusion proofs and their checkpoint."""
