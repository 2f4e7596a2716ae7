"""Read audit of personal data (append-only: triggers reject UPDATE and DELETE).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import GUID, TZDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_REJECT_FUNCTION = """
CREATE FUNCTION read_audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'read_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$
"""
INDEXES = {
    "ix_read_audit_subject_nip_hash": ["subject_nip_hash"],
    "ix_read_audit_client_id_recorded_at": ["client_id", "recorded_at"],
    "ix_read_audit_agency_recorded_at": ["agency", "recorded_at"],
    "ix_read_audit_recorded_at": ["recorded_at"],
}


def upgrade() -> None:
    op.create_table(
        "read_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recorded_at", TZDateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("case_id", GUID(), nullable=True),
        sa.Column("record_id", GUID(), nullable=True),
        sa.Column("subject_nip_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_audit")),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "read_audit", columns)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_REJECT_FUNCTION)
        op.execute(
            "CREATE TRIGGER read_audit_append_only BEFORE UPDATE OR DELETE ON read_audit "
            "FOR EACH ROW EXECUTE FUNCTION read_audit_reject_change()"
        )
        op.execute(
            "CREATE TRIGGER read_audit_no_truncate BEFORE TRUNCATE ON read_audit "
            "FOR EACH STATEMENT EXECUTE FUNCTION read_audit_reject_change()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER read_audit_no_{operation.lower()} BEFORE {operation} ON read_audit "
                "BEGIN SELECT RAISE(ABORT, 'read_audit is append-only'); END"
            )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="read_audit")
    op.drop_table("read_audit")  # drops its triggers on both dialects
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION read_audit_reject_change()")
