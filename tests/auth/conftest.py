"""Fixtures of the auth tests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.auth.service import IssuedCredentials
from app.core.actor import Agency, Scope
from tests.auth_helpers import issue_agency_client
from tests.conftest import Writing


@pytest.fixture
def bkn(app: FastAPI, writing: Writing) -> IssuedCredentials:
    with writing() as writer:
        return issue_agency_client(
            writer, app, Agency.BKN, "bkn-sapk", "BKN case system", [Scope.CASES_READ, Scope.CASES_WRITE]
        )
