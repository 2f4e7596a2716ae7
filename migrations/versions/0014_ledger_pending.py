"""The ledger sequencer's tables: writes waiting for their positions, and where each write landed (decision 0028).

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import TZDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", TZDateTime(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("changes", sa.LargeBinary(), nullable=False),
        sa.Column("changes_hash", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("entry_count >= 1", name=op.f("ck_ledger_pending_entry_count_positive")),
        sa.CheckConstraint("length(changes_hash) = 32", name=op.f("ck_ledger_pending_changes_hash_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_pending")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "ledger_write",
        sa.Column("pending_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pending_id", name=op.f("pk_ledger_write")),
    )
    # Nullable: replies stored before the sequencer carry their receipt already.
    op.add_column("idempotency_record", sa.Column("ledger_pending_id", sa.BigInteger(), nullable=True))
    op.add_column("idempotency_record", sa.Column("ledger_receipt_headers", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_record") as batch:
        batch.drop_column("ledger_receipt_headers")
        batch.drop_column("ledger_pending_id")
    op.drop_table("ledger_write")
    op.drop_table("ledger_pending")
