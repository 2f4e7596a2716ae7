"""The background state audit's standing result (tables compared with the ledger).

Revision ID: 0010
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import TZDateTime

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_state_audit",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("audited_tree_size", sa.BigInteger(), nullable=False),
        sa.Column("scrub_after", sa.String(length=36), nullable=True),
        sa.Column("checked_at", TZDateTime(), nullable=False),
        sa.Column("rows_checked", sa.Integer(), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_state_audit")),
    )


def downgrade() -> None:
    op.drop_table("ledger_state_audit")
