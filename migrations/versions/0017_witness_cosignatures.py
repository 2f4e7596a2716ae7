"""Witness cosignatures of the ledger's checkpoints, and the log's view of each witness.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import TZDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_cosignature",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=255), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", TZDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", "witness", name=op.f("pk_ledger_cosignature")),
    )
    op.create_table(
        "ledger_witness",
        sa.Column("witness", sa.String(length=255), nullable=False),
        sa.Column("known_size", sa.BigInteger(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("checked_at", TZDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("witness", name=op.f("pk_ledger_witness")),
    )


def downgrade() -> None:
    op.drop_table("ledger_witness")
    op.drop_table("ledger_cosignature")
