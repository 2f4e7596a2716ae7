"""OAuth client registry of the embedded issuer."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.actor import Agency, Role, Scope
from app.core.db import Base, TZDateTime, utcnow


class OAuthClient(Base):
    __tablename__ = "oauth_client"
    __table_args__ = (
        CheckConstraint("role IN ('agency', 'auditor', 'admin')", name="role"),
        CheckConstraint("(role = 'agency') = (agency IS NOT NULL)", name="agency_iff_agency_role"),
    )

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(String(16))
    allowed_scopes: Mapped[str] = mapped_column(Text)
    """Space-separated, like the OAuth ``scope`` parameter."""
    secret_hash: Mapped[str] = mapped_column(String(200))
    """``scrypt$n$r$p$salt$hash`` (app.auth.hashing); the secret itself is never stored."""
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
