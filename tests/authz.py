"""Shared vocabulary of the authorization matrix (tests/test_authorization_matrix.py).

Each domain declares its rows in ``tests/<domain>/authz.py`` as ``ROWS: list[Row]``: one row per route, with the
exact status every identity must get. A row may build its request per identity (``call``), e.g. to point at a
fresh object, or at an object of another agency (which must be 404, not 403).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.auth_helpers import AuthHeaders

AGENCIES = ("BAWASLU", "KASN", "BKN", "KEMENDAGRI", "KEMENPANRB")
RETIRED = ("KASN",)
"""Agencies that have ceased to exist (KASN on 2024-08-24): their tokens are refused, so they fare as anonymous."""
IDENTITIES = ("anonymous", *AGENCIES, "auditor", "admin")


@dataclass(frozen=True)
class Call:
    """The concrete request one identity sends (its credentials are added by the matrix)."""

    path: str
    json: Any = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class MatrixContext:
    app: FastAPI
    client: TestClient
    auth_headers: AuthHeaders
    memo: dict[str, Any] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {} if who == "anonymous" else self.auth_headers(who)

    def remember(self, key: str, make: Callable[[], Any]) -> Any:
        """One shared fixture object per matrix row (e.g. a case all identities read)."""
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]


CallFactory = Callable[[MatrixContext, str], Call]


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    expected: Mapping[str, int]
    call: CallFactory | None = None

    def __post_init__(self) -> None:
        if set(self.expected) != set(IDENTITIES):
            raise ValueError(f"{self.method} {self.route}: statuses for exactly {IDENTITIES}")

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.route


def statuses(*, anonymous: int, agencies: int, auditor: int, admin: int, **per_agency: int) -> dict[str, int]:
    """Expected status per identity; ``per_agency`` overrides single agencies, e.g. ``KEMENDAGRI=403``.

    A retired agency (``RETIRED``) always gets what an anonymous caller gets: its tokens are refused (401)."""
    unknown = set(per_agency) - set(AGENCIES)
    if unknown:
        raise ValueError(f"not agencies: {unknown}")
    expected = {"anonymous": anonymous, "auditor": auditor, "admin": admin}
    expected |= {agency: per_agency.get(agency, agencies) for agency in AGENCIES}
    expected |= dict.fromkeys(RETIRED, anonymous)
    return expected


PUBLIC = statuses(anonymous=200, agencies=200, auditor=200, admin=200)
READERS = statuses(anonymous=401, agencies=200, auditor=200, admin=403)
"""Case-data reads: every agency and the auditor, not the admin (who manages clients only)."""
ADMIN_ONLY = statuses(anonymous=401, agencies=403, auditor=403, admin=200)
