"""Fixtures of the auth tests."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.auth.service import IssuedCredentials
from app.core.actor import Agency, Scope
from app.core.db import transaction
from tests.auth_helpers import issue_agency_client
from tests.conftest import rolls_back


@pytest.fixture
def bkn(app: FastAPI, session: Session, request: pytest.FixtureRequest) -> IssuedCredentials:
    """On SQLite written in a writing transaction: the read-only ``session`` fails to upgrade to a write ("database
    is locked") when one of the app's background threads has committed since its first read."""
    with nullcontext(session) if rolls_back(request) else transaction(app.state.sessionmaker) as writer:
        credentials = issue_agency_client(
            writer, app, Agency.BKN, "bkn-sapk", "BKN case system", [Scope.CASES_READ, Scope.CASES_WRITE]
        )
        writer.commit()
    return credentials
