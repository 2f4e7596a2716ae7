"""The sanction matrix: sanctions by employee kind and effective date (PPPK sanctions added), the levels each
violation form allows, level-only recommendations and coded reasons for a sanction that departs from them.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.reference.seed import load_rows

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SANCTION_ADDED = ("employee_kind", "valid_from", "valid_to")


def upgrade() -> None:
    # batch mode: SQLite cannot add a foreign key to an existing table in place
    with op.batch_alter_table("sanction") as batch:
        batch.add_column(sa.Column("employee_kind", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("valid_to", sa.Date(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_sanction_employee_kind_employee_kind"), "employee_kind", ["employee_kind"], ["code"]
        )
    matrix = op.create_table(
        "violation_sanction_level",
        sa.Column("violation_code", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["violation_code"],
            ["violation_form.code"],
            name=op.f("fk_violation_sanction_level_violation_code_violation_form"),
        ),
        sa.PrimaryKeyConstraint("violation_code", "level", name=op.f("pk_violation_sanction_level")),
    )
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("recommended_sanction_level", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("imposed_sanction_reason", sa.String(length=16), nullable=True))
    for table in ("agency_record", "case_transition"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("sanction_level", sa.String(length=16), nullable=True))
            batch.add_column(sa.Column("sanction_reason", sa.String(length=16), nullable=True))
    _seed_sanctions()
    op.bulk_insert(matrix, load_rows("violation_sanction_level"))
    # Existing recommendations name the level of their sanction.
    op.execute(
        'UPDATE "case" SET recommended_sanction_level = (SELECT level FROM sanction '
        'WHERE sanction.code = "case".recommended_sanction_code) WHERE recommended_sanction_code IS NOT NULL'
    )


def _seed_sanctions() -> None:
    """Fill the new columns of the seeded sanctions and add the ones a database made before lacks (PPPK)."""
    sanction = sa.table(
        "sanction",
        *(sa.column(name) for name in ("code", "kind", "level", "severity_rank", "legacy", "title", "legal_basis")),
        sa.column("employee_kind"),
        sa.column("valid_from", sa.Date()),
        sa.column("valid_to", sa.Date()),
    )
    bind = op.get_bind()
    present = set(bind.scalars(sa.select(sanction.c.code)))
    for row in load_rows("sanction"):
        if row["code"] in present:
            values = {name: row[name] for name in SANCTION_ADDED}
            bind.execute(sa.update(sanction).where(sanction.c.code == row["code"]).values(**values))
        else:
            bind.execute(sa.insert(sanction).values(**row))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM sanction WHERE employee_kind = 'PPPK'"))
    for table in ("case_transition", "agency_record"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sanction_reason")
            batch.drop_column("sanction_level")
    with op.batch_alter_table("case") as batch:
        batch.drop_column("imposed_sanction_reason")
        batch.drop_column("recommended_sanction_level")
    op.drop_table("violation_sanction_level")
    with op.batch_alter_table("sanction") as batch:
        batch.drop_constraint(op.f("fk_sanction_employee_kind_employee_kind"), type_="foreignkey")
        batch.drop_column("valid_to")
        batch.drop_column("valid_from")
        batch.drop_column("employee_kind")
