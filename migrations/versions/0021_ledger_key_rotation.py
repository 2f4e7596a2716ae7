"""Ledger key rotation: a partial index over the ``ledger.key_rotated`` entries, which name the log's signing keys
(decision 0036); signing a checkpoint reads the latest of them.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IS_KEY_ROTATION = sa.text("entry_type = 'ledger.key_rotated'")


def upgrade() -> None:
    op.create_index(
        "ix_ledger_entry_key_rotation",
        "ledger_entry",
        ["seq"],
        sqlite_where=_IS_KEY_ROTATION,
        postgresql_where=_IS_KEY_ROTATION,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entry_key_rotation", table_name="ledger_entry")
