"""Credentials for tests. The OAuth2 work replaces the interim header with real bearer tokens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from fastapi import FastAPI

from app.auth.dependencies import INTERIM_HEADER
from app.auth.principal import AGENCY_SCOPES, AUDITOR_SCOPES, Agency, Role, Scope


class AuthHeaders(Protocol):
    def __call__(self, who: str, scopes: Iterable[Scope] | None = None) -> dict[str, str]: ...


def make_auth_headers(app: FastAPI) -> AuthHeaders:
    del app  # the interim scheme needs no app state

    def headers(who: str, scopes: Iterable[Scope] | None = None) -> dict[str, str]:
        if who == "auditor":
            role, agency, granted = Role.AUDITOR, "", AUDITOR_SCOPES
        elif who == "admin":
            role, agency, granted = Role.ADMIN, "", frozenset({Scope.ADMIN_CLIENTS})
        else:
            role, agency, granted = Role.AGENCY, Agency(who).value, AGENCY_SCOPES
        chosen = granted if scopes is None else frozenset(scopes)
        return {INTERIM_HEADER: f"{role.value}:{agency}:{' '.join(sorted(chosen))}"}

    return headers
