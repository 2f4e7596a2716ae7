"""Reconciliation: normalised columns on agency_record, per-case comparison state, findings and runs.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import GUID, TZDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_COLUMNS: tuple[sa.Column[object], ...] = (
    sa.Column("nip_canonical", sa.String(length=32), nullable=True),
    sa.Column("name_key", sa.String(length=200), nullable=True),
    sa.Column("violation_canonical", sa.String(length=16), nullable=True),
    sa.Column("stage_canonical", sa.String(length=24), nullable=True),
    sa.Column("stage_high_water", sa.Integer(), nullable=True),
    sa.Column("sanction_canonical", sa.String(length=48), nullable=True),
    sa.Column("fingerprint", sa.BigInteger(), nullable=True),
    sa.Column("local_issue", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("normalizer_version", sa.Integer(), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("agency_record") as batch:
        for column in RECORD_COLUMNS:
            batch.add_column(column._copy())
        batch.create_index("ix_agency_record_case_id_fingerprint", ["case_id", "fingerprint"])

    op.create_table(
        "reconciliation_case_state",
        sa.Column("case_id", GUID(), nullable=False),
        sa.Column("nip_canonical", sa.String(length=32), nullable=True),
        sa.Column("name_key", sa.String(length=200), nullable=True),
        sa.Column("incident_date", sa.Date(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("deadline_date", sa.Date(), nullable=True),
        sa.Column("sanction_canonical", sa.String(length=48), nullable=True),
        sa.Column("fingerprint", sa.BigInteger(), nullable=False),
        sa.Column("expected_mask", sa.Integer(), nullable=False),
        sa.Column("local_issue", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("normalizer_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TZDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_reconciliation_case_state_case_id_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_reconciliation_case_state")),
    )
    op.create_index(
        "ix_reconciliation_case_state_nip_canonical_incident_date",
        "reconciliation_case_state",
        ["nip_canonical", "incident_date"],
    )
    op.create_index("ix_reconciliation_case_state_deadline_date", "reconciliation_case_state", ["deadline_date"])

    op.create_table(
        "reconciliation_finding",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("finding_key", sa.String(length=64), nullable=False),
        sa.Column("case_id", GUID(), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("fields", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("hint", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=24), nullable=True),
        sa.Column("observed", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("case_number", sa.String(length=20), nullable=False),
        sa.Column("nip", sa.String(length=32), nullable=True),
        sa.Column("province_code", sa.String(length=2), nullable=False),
        sa.Column("deadline_date", sa.Date(), nullable=True),
        sa.Column("first_seen_at", TZDateTime(), nullable=False),
        sa.Column("last_seen_at", TZDateTime(), nullable=False),
        sa.Column("first_seen_run_id", GUID(), nullable=True),
        sa.Column("last_seen_run_id", GUID(), nullable=True),
        sa.Column("state_changed_at", TZDateTime(), nullable=False),
        sa.Column("state_changed_by", sa.String(length=200), nullable=False),
        sa.Column("suppressed_until", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_reconciliation_finding_case_id_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_finding")),
        sa.UniqueConstraint("finding_key", name=op.f("uq_reconciliation_finding_finding_key")),
    )
    for name, columns in (
        ("ix_reconciliation_finding_case_id_state", ["case_id", "state"]),
        ("ix_reconciliation_finding_state_severity_rank", ["state", "severity_rank"]),
        ("ix_reconciliation_finding_rule", ["rule"]),
        ("ix_reconciliation_finding_nip", ["nip"]),
        ("ix_reconciliation_finding_province_code", ["province_code"]),
        ("ix_reconciliation_finding_first_seen_at_id", ["first_seen_at", "id"]),
    ):
        op.create_index(name, "reconciliation_finding", columns)

    op.create_table(
        "reconciliation_finding_agency",
        sa.Column("finding_id", GUID(), nullable=False),
        sa.Column("agency", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency"], ["agency.code"], name=op.f("fk_reconciliation_finding_agency_agency_agency")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["reconciliation_finding.id"],
            name=op.f("fk_reconciliation_finding_agency_finding_id_reconciliation_finding"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("finding_id", "agency", name=op.f("pk_reconciliation_finding_agency")),
    )
    op.create_index("ix_reconciliation_finding_agency_agency", "reconciliation_finding_agency", ["agency"])

    op.create_table(
        "reconciliation_finding_event",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("finding_id", GUID(), nullable=False),
        sa.Column("at", TZDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("run_id", GUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["reconciliation_finding.id"],
            name=op.f("fk_reconciliation_finding_event_finding_id_reconciliation_finding"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_finding_event")),
    )
    op.create_index(
        "ix_reconciliation_finding_event_finding_id_at", "reconciliation_finding_event", ["finding_id", "at"]
    )

    op.create_table(
        "reconciliation_run",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("as_of", TZDateTime(), nullable=False),
        sa.Column("use_screen", sa.Boolean(), nullable=False),
        sa.Column("case_ids", sa.JSON(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", TZDateTime(), nullable=False),
        sa.Column("started_at", TZDateTime(), nullable=True),
        sa.Column("finished_at", TZDateTime(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_run")),
    )
    op.create_index("ix_reconciliation_run_requested_at", "reconciliation_run", ["requested_at"])


def downgrade() -> None:
    op.drop_table("reconciliation_run")
    op.drop_table("reconciliation_finding_event")
    op.drop_table("reconciliation_finding_agency")
    op.drop_table("reconciliation_finding")
    op.drop_table("reconciliation_case_state")
    with op.batch_alter_table("agency_record") as batch:
        batch.drop_index("ix_agency_record_case_id_fingerprint")
        for column in reversed(RECORD_COLUMNS):
            batch.drop_column(column.name)
