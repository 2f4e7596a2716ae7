"""Fixtures of the auth tests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.service import IssuedCredentials
from app.core.actor import Agency, Role, Scope


@pytest.fixture
def bkn(app: FastAPI, session: Session) -> IssuedCredentials:
    credentials = service.create_client(
        session,
        app.state.settings,
        service.operator_context("test", {}),
        name="BKN case system",
        role=Role.AGENCY,
        agency=Agency.BKN,
        scopes=[Scope.CASES_READ, Scope.CASES_WRITE],
        client_id="bkn-sapk",
    )
    session.commit()
    return credentials
