"""OAuth client registry of the embedded issuer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.actor import Agency, Role, Scope
from app.core.db import Base, TZDateTime, utcnow

CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name (RFC 7591), not a secret
"""A secret, sent with HTTP Basic or (``client_secret_post``) in the form."""
PRIVATE_KEY_JWT = "private_key_jwt"
"""A JWT signed with a registered key (RFC 7523)."""


class OAuthClient(Base):
    __tablename__ = "oauth_client"
    __table_args__ = (
        CheckConstraint("role IN ('agency', 'auditor', 'admin')", name="role"),
        CheckConstraint("(role = 'agency') = (agency IS NOT NULL)", name="agency_iff_agency_role"),
        CheckConstraint("token_endpoint_auth_method IN ('client_secret_basic', 'private_key_jwt')", name="auth_method"),
        CheckConstraint(
            "(token_endpoint_auth_method = 'client_secret_basic') = (secret_hash IS NOT NULL)",
            name="secret_iff_secret_method",
        ),
        CheckConstraint(
            "(token_endpoint_auth_method = 'private_key_jwt') = (jwks IS NOT NULL)", name="jwks_iff_key_method"
        ),
    )

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(String(16))
    allowed_scopes: Mapped[str] = mapped_column(Text)
    """Space-separated, like the OAuth ``scope`` parameter."""
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default=CLIENT_SECRET_BASIC, server_default=CLIENT_SECRET_BASIC
    )
    """How the client authenticates at the token endpoint (RFC 7591 names): a secret, or a signed assertion."""
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    """``scrypt$n$r$p$salt$hash`` (app.auth.hashing); the secret itself is never stored. None for key clients."""
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """The public keys a ``private_key_jwt`` client signs its assertions with (a JWK set)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def agency_enum(self) -> Agency | None:
        return Agency(self.agency) if self.agency is not None else None

    @property
    def scopes(self) -> frozenset[Scope]:
        return frozenset(Scope(value) for value in self.allowed_scopes.split())
