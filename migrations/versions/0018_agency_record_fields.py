"""Agency records as the agencies keep them: instansi, region, election, phase, the recommended and the imposed
sanction side by side, the decision (SK), the I'DIS reference and the block dates; the case keeps the decision and
block dates its steps record.

Existing records had one sanction column and a status saying which sanction it was. The split moves it by that
status: RECOMMENDED (with its level) to ``recommended_sanction_*``, IMPOSED (with its reason) to
``imposed_sanction_*``. A sanction recorded without a status (which reconciliation could not compare) goes by the
record's own stage: imposed when the record says the case ended sanctioned, else recommended. Region, election and
phase stay NULL on existing records: no agency recorded them, and a field a record does not hold is compared with
nothing. The comparison forms (``recommended_canonical``, ``imposed_canonical``) start NULL and the records are
recomputed by the next check (``NORMALIZER_VERSION`` 3 marks the old ones stale for the screen).

Downgrade merges the two sanctions back into one column: the imposed one where a record holds both (the earlier
schema could keep only one), with its status.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASE_DATES = ("decision_date", "blocked_on", "block_lifted_on")


def upgrade() -> None:
    # in place, not in batch mode: SQLite cannot copy a table other tables' rows refer to
    op.add_column("case", sa.Column("decision_number", sa.String(length=100), nullable=True))
    for name in CASE_DATES:
        op.add_column("case", sa.Column(name, sa.Date(), nullable=True))
    with op.batch_alter_table("agency_record") as batch:
        batch.add_column(sa.Column("province_code", sa.String(length=2), nullable=True))
        batch.add_column(sa.Column("regency", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("election_type", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("election_year", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("phase", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("recommended_sanction_code", sa.String(length=48), nullable=True))
        batch.add_column(sa.Column("recommended_sanction_level", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("imposed_sanction_code", sa.String(length=48), nullable=True))
        batch.add_column(sa.Column("imposed_sanction_reason", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("decision_number", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("decision_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("idis_reference", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("blocked_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("block_lifted_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("recommended_canonical", sa.String(length=48), nullable=True))
        batch.add_column(sa.Column("imposed_canonical", sa.String(length=48), nullable=True))
        batch.create_foreign_key(
            op.f("fk_agency_record_province_code_province"), "province", ["province_code"], ["code"]
        )
        batch.create_foreign_key(
            op.f("fk_agency_record_recommended_sanction_code_sanction"),
            "sanction",
            ["recommended_sanction_code"],
            ["code"],
        )
        batch.create_foreign_key(
            op.f("fk_agency_record_imposed_sanction_code_sanction"), "sanction", ["imposed_sanction_code"], ["code"]
        )
    op.execute(
        "UPDATE agency_record SET imposed_sanction_code = sanction_code, imposed_sanction_reason = sanction_reason "
        "WHERE sanction_code IS NOT NULL AND (sanction_status = 'IMPOSED' OR (sanction_status IS NULL "
        "AND sanction_level IS NULL AND stage IN ('SANKSI_DIJATUHKAN', 'BLOKIR_DIBUKA')))"
    )
    op.execute(
        "UPDATE agency_record SET recommended_sanction_code = sanction_code, recommended_sanction_level = "
        "sanction_level WHERE (sanction_code IS NOT NULL OR sanction_level IS NOT NULL) AND imposed_sanction_code "
        "IS NULL AND (sanction_status IS NULL OR sanction_status <> 'IMPOSED')"
    )
    with op.batch_alter_table("agency_record") as batch:
        batch.drop_constraint(op.f("fk_agency_record_sanction_code_sanction"), type_="foreignkey")
        for name in ("sanction_code", "sanction_level", "sanction_status", "sanction_reason", "sanction_canonical"):
            batch.drop_column(name)
    with op.batch_alter_table("reconciliation_case_state") as batch:
        batch.add_column(sa.Column("recommended_canonical", sa.String(length=48), nullable=True))
        batch.add_column(sa.Column("imposed_canonical", sa.String(length=48), nullable=True))
        batch.drop_column("sanction_canonical")


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_case_state") as batch:
        batch.add_column(sa.Column("sanction_canonical", sa.String(length=48), nullable=True))
        batch.drop_column("imposed_canonical")
        batch.drop_column("recommended_canonical")
    with op.batch_alter_table("agency_record") as batch:
        batch.add_column(sa.Column("sanction_code", sa.String(length=48), nullable=True))
        batch.add_column(sa.Column("sanction_level", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("sanction_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("sanction_reason", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("sanction_canonical", sa.String(length=48), nullable=True))
        batch.create_foreign_key(
            op.f("fk_agency_record_sanction_code_sanction"), "sanction", ["sanction_code"], ["code"]
        )
    op.execute(
        "UPDATE agency_record SET sanction_code = imposed_sanction_code, sanction_reason = imposed_sanction_reason, "
        "sanction_status = 'IMPOSED' WHERE imposed_sanction_code IS NOT NULL"
    )
    op.execute(
        "UPDATE agency_record SET sanction_code = recommended_sanction_code, sanction_level = "
        "recommended_sanction_level, sanction_status = 'RECOMMENDED' WHERE imposed_sanction_code IS NULL AND "
        "(recommended_sanction_code IS NOT NULL OR recommended_sanction_level IS NOT NULL)"
    )
    with op.batch_alter_table("agency_record") as batch:
        batch.drop_constraint(op.f("fk_agency_record_imposed_sanction_code_sanction"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_agency_record_recommended_sanction_code_sanction"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_agency_record_province_code_province"), type_="foreignkey")
        for name in (
            "imposed_canonical",
            "recommended_canonical",
            "block_lifted_on",
            "blocked_on",
            "idis_reference",
            "decision_date",
            "decision_number",
            "imposed_sanction_reason",
            "imposed_sanction_code",
            "recommended_sanction_level",
            "recommended_sanction_code",
            "phase",
            "election_year",
            "election_type",
            "regency",
            "province_code",
        ):
            batch.drop_column(name)
    for name in (*reversed(CASE_DATES), "decision_number"):
        op.drop_column("case", name)  # in place (SQLite 3.35+): the records refer to the case rows
