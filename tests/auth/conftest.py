"""Fixtures of the auth tests."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.service import IssuedCredentials
from app.core.actor import Agency, Role, Scope
from app.core.db import transaction
from tests.conftest import rolls_back


@pytest.fixture
def bkn(app: FastAPI, session: Session, request: pytest.FixtureRequest) -> IssuedCredentials:
    """On SQLite written in a writing transaction: the read-only ``session`` fails to upgrade to a write ("database
    is locked") when one of the app's background threads has committed since its first read."""
    with nullcontext(session) if rolls_back(request) else transaction(app.state.sessionmaker) as writer:
        credentials = service.create_client(
            writer,
            app.state.settings,
            service.operator_context("test", {}),
            name="BKN case system",
            role=Role.AGENCY,
            agency=Agency.BKN,
            scopes=[Scope.CASES_READ, Scope.CASES_WRITE],
            client_id="bkn-sapk",
        )
        writer.commit()
    return credentials
