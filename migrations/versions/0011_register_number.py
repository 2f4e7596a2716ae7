"""The report a case belongs to: Bawaslu's nomor register on the case.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and without a default: existing cases belong to no report (no source named their register number).
    op.add_column("case", sa.Column("register_number", sa.String(length=100), nullable=True))
    op.create_index("ix_case_register_number", "case", ["register_number"])


def downgrade() -> None:
    op.drop_index("ix_case_register_number", table_name="case")
    with op.batch_alter_table("case") as batch:
        batch.drop_column("register_number")
