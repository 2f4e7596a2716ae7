"""Queries on the client registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import OAuthClient


def get_client(session: Session, client_id: str) -> OAuthClient | None:
    return session.get(OAuthClient, client_id)


def list_clients(session: Session) -> Sequence[OAuthClient]:
    return session.scalars(select(OAuthClient).order_by(OAuthClient.client_id)).all()


def client_is_active(session: Session, client_id: str) -> bool:
    active = session.scalar(select(OAuthClient.active).where(OAuthClient.client_id == client_id))
    return bool(active)


def any_client_with_prefix(session: Session, prefix: str) -> bool:
    found = session.scalar(select(OAuthClient.client_id).where(OAuthClient.client_id.startswith(prefix)).limit(1))
    return found is not None
