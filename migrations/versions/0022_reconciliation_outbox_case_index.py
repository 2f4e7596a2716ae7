"""Reconciliation outbox: an index on ``case_id``. A round deletes every outbox row of the cases it re-checked,
not only the rows it read (a case touched by several waiting writes is re-checked once).

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_reconciliation_outbox_case_id", "reconciliation_outbox", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_reconciliation_outbox_case_id", table_name="reconciliation_outbox")
