"""Foundation: reference data, cases, agency records, workflow history, idempotency.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import GUID, TZDateTime
from app.reference.seed import load_columns

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOUNDATION_TABLES = ("agency", "violation_form", "sanction", "employee_kind", "position_category", "province")


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("successor_code", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["successor_code"], ["agency.code"], name=op.f("fk_agency_successor_code_agency")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_agency")),
    )
    op.create_table(
        "case_number_counter",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_number_counter")),
    )
    op.create_table(
        "employee_kind",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_employee_kind")),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=True),
        sa.Column("created_at", TZDateTime(), nullable=False),
        sa.Column("expires_at", TZDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "key", name=op.f("pk_idempotency_record")),
    )
    op.create_table(
        "position_category",
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_position_category")),
    )
    op.create_table(
        "province",
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_province")),
        sa.UniqueConstraint("name", name=op.f("uq_province_name")),
    )
    op.create_table(
        "sanction",
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("legacy", sa.Boolean(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_sanction")),
    )
    op.create_table(
        "violation_form",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("default_sanction_level", sa.String(length=16), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_violation_form")),
    )
    op.create_table(
        "case",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("case_number", sa.String(length=20), nullable=False),
        sa.Column("nip", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("employee_kind", sa.String(length=8), nullable=False),
        sa.Column("instansi", sa.String(length=200), nullable=False),
        sa.Column("position_category", sa.String(length=24), nullable=False),
        sa.Column("province_code", sa.String(length=2), nullable=False),
        sa.Column("regency", sa.String(length=100), nullable=True),
        sa.Column("election_type", sa.String(length=8), nullable=False),
        sa.Column("election_year", sa.Integer(), nullable=False),
        sa.Column("violation_code", sa.String(length=8), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("incident_date", sa.Date(), nullable=False),
        sa.Column("reported_date", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("stage_entered_on", sa.Date(), nullable=False),
        sa.Column("deadline_date", sa.Date(), nullable=True),
        sa.Column("recommended_by", sa.String(length=16), nullable=True),
        sa.Column("recommendation_number", sa.String(length=100), nullable=True),
        sa.Column("recommendation_date", sa.Date(), nullable=True),
        sa.Column("recommended_sanction_code", sa.String(length=48), nullable=True),
        sa.Column("imposed_sanction_code", sa.String(length=48), nullable=True),
        sa.Column("sanction_date", sa.Date(), nullable=True),
        sa.Column("created_by_agency", sa.String(length=16), nullable=False),
        sa.Column("created_at", TZDateTime(), nullable=False),
        sa.Column("updated_at", TZDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_agency"], ["agency.code"], name=op.f("fk_case_created_by_agency_agency")),
        sa.ForeignKeyConstraint(
            ["employee_kind"], ["employee_kind.code"], name=op.f("fk_case_employee_kind_employee_kind")
        ),
        sa.ForeignKeyConstraint(
            ["imposed_sanction_code"], ["sanction.code"], name=op.f("fk_case_imposed_sanction_code_sanction")
        ),
        sa.ForeignKeyConstraint(
            ["position_category"],
            ["position_category.code"],
            name=op.f("fk_case_position_category_position_category"),
        ),
        sa.ForeignKeyConstraint(["province_code"], ["province.code"], name=op.f("fk_case_province_code_province")),
        sa.ForeignKeyConstraint(["recommended_by"], ["agency.code"], name=op.f("fk_case_recommended_by_agency")),
        sa.ForeignKeyConstraint(
            ["recommended_sanction_code"],
            ["sanction.code"],
            name=op.f("fk_case_recommended_sanction_code_sanction"),
        ),
        sa.ForeignKeyConstraint(
            ["violation_code"], ["violation_form.code"], name=op.f("fk_case_violation_code_violation_form")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case")),
        sa.UniqueConstraint("case_number", name=op.f("uq_case_case_number")),
    )
    op.create_index("ix_case_created_at_id", "case", ["created_at", "id"], unique=False)
    op.create_index("ix_case_nip", "case", ["nip"], unique=False)
    op.create_index("ix_case_province_code", "case", ["province_code"], unique=False)
    op.create_index("ix_case_stage", "case", ["stage"], unique=False)
    op.create_table(
        "agency_record",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("case_id", GUID(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("nip", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("position_category", sa.String(length=24), nullable=True),
        sa.Column("violation_code", sa.String(length=8), nullable=True),
        sa.Column("stage", sa.String(length=24), nullable=True),
        sa.Column("sanction_code", sa.String(length=48), nullable=True),
        sa.Column("sanction_status", sa.String(length=16), nullable=True),
        sa.Column("reported_date", sa.Date(), nullable=True),
        sa.Column("recommendation_date", sa.Date(), nullable=True),
        sa.Column("sanction_date", sa.Date(), nullable=True),
        sa.Column("reference_number", sa.String(length=100), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("submitted_by_client", sa.String(length=100), nullable=False),
        sa.Column("created_at", TZDateTime(), nullable=False),
        sa.Column("updated_at", TZDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency"], ["agency.code"], name=op.f("fk_agency_record_agency_agency")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_agency_record_case_id_case"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["position_category"],
            ["position_category.code"],
            name=op.f("fk_agency_record_position_category_position_category"),
        ),
        sa.ForeignKeyConstraint(
            ["sanction_code"], ["sanction.code"], name=op.f("fk_agency_record_sanction_code_sanction")
        ),
        sa.ForeignKeyConstraint(
            ["violation_code"],
            ["violation_form.code"],
            name=op.f("fk_agency_record_violation_code_violation_form"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_record")),
        sa.UniqueConstraint("case_id", "agency", name=op.f("uq_agency_record_case_id_agency")),
    )
    op.create_index("ix_agency_record_agency_created_at", "agency_record", ["agency", "created_at"], unique=False)
    op.create_table(
        "case_transition",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("case_id", GUID(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_stage", sa.String(length=24), nullable=False),
        sa.Column("to_stage", sa.String(length=24), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("reference_number", sa.String(length=100), nullable=True),
        sa.Column("sanction_code", sa.String(length=48), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", TZDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agency"], ["agency.code"], name=op.f("fk_case_transition_agency_agency")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_case_transition_case_id_case"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["sanction_code"], ["sanction.code"], name=op.f("fk_case_transition_sanction_code_sanction")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transition")),
    )
    op.create_index("ix_case_transition_case_id_created_at", "case_transition", ["case_id", "created_at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE case_number_seq")  # case numbers without a shared row lock
    _seed_reference_data()


def _seed_reference_data() -> None:
    """Reference data lives in app/reference/data/*.json; the migration loads the tables and columns it creates
    (later revisions seed what they add)."""
    metadata = sa.MetaData()
    metadata.reflect(bind=op.get_bind(), only=list(FOUNDATION_TABLES))
    for name in FOUNDATION_TABLES:
        table = metadata.tables[name]
        op.bulk_insert(table, load_columns(name, table.c.keys()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE case_number_seq")

    op.drop_index("ix_case_transition_case_id_created_at", table_name="case_transition")
    op.drop_table("case_transition")
    op.drop_index("ix_agency_record_agency_created_at", table_name="agency_record")
    op.drop_table("agency_record")
    op.drop_index("ix_case_stage", table_name="case")
    op.drop_index("ix_case_province_code", table_name="case")
    op.drop_index("ix_case_nip", table_name="case")
    op.drop_index("ix_case_created_at_id", table_name="case")
    op.drop_table("case")
    op.drop_table("violation_form")
    op.drop_table("sanction")
    op.drop_table("province")
    op.drop_table("position_category")
    op.drop_table("idempotency_record")
    op.drop_table("employee_kind")
    op.drop_table("case_number_counter")
    op.drop_table("agency")
