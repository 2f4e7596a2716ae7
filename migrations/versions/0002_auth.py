"""OAuth client registry (the embedded issuer's signing key lives on disk, not in the database).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import TZDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_client",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=True),
        sa.Column("allowed_scopes", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZDateTime(), nullable=False),
        sa.Column("secret_rotated_at", TZDateTime(), nullable=True),
        sa.Column("disabled_at", TZDateTime(), nullable=True),
        sa.CheckConstraint("role IN ('agency', 'auditor', 'admin')", name=op.f("ck_oauth_client_role")),
        sa.CheckConstraint(
            "(role = 'agency') = (agency IS NOT NULL)", name=op.f("ck_oauth_client_agency_iff_agency_role")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oauth_client")),
    )


def downgrade() -> None:
    op.drop_table("oauth_client")
