"""A retired agency's archive imported by its successor: the day it was recorded and who imported it.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a foreign key to an existing table in place
    with op.batch_alter_table("agency_record") as batch:
        batch.add_column(sa.Column("recorded_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("imported_by", sa.String(length=16), nullable=True))
        batch.create_foreign_key(op.f("fk_agency_record_imported_by_agency"), "agency", ["imported_by"], ["code"])


def downgrade() -> None:
    with op.batch_alter_table("agency_record") as batch:
        batch.drop_constraint(op.f("fk_agency_record_imported_by_agency"), type_="foreignkey")
        batch.drop_column("imported_by")
        batch.drop_column("recorded_on")
