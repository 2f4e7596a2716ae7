"""Tamper-evident ledger: entries (Merkle leaves), perfect subtree nodes, signed checkpoints.

All three tables are append-only: triggers reject UPDATE and DELETE (and TRUNCATE on PostgreSQL).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import GUID, TZDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_TABLES = ("ledger_entry", "ledger_node", "ledger_checkpoint")

PG_REJECT_FUNCTION = """
CREATE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", TZDateTime(), nullable=False),
        sa.Column("entry_type", sa.String(length=64), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=True),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", GUID(), nullable=True),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("leaf_data", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_ledger_entry_seq_not_negative")),
        sa.CheckConstraint("length(leaf_hash) = 32", name=op.f("ck_ledger_entry_leaf_hash_length")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entry")),
    )
    op.create_index(op.f("ix_ledger_entry_case_id"), "ledger_entry", ["case_id"])
    op.create_table(
        "ledger_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("level >= 1", name=op.f("ck_ledger_node_level_positive")),
        sa.CheckConstraint("length(hash) = 32", name=op.f("ck_ledger_node_hash_length")),
        sa.PrimaryKeyConstraint("level", "position", name=op.f("pk_ledger_node")),
    )
    op.create_table(
        "ledger_checkpoint",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", TZDateTime(), nullable=False),
        sa.CheckConstraint("length(root_hash) = 32", name=op.f("ck_ledger_checkpoint_root_hash_length")),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_ledger_checkpoint")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_REJECT_FUNCTION)
        for table in LEDGER_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_reject_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change()"
            )
    else:
        for table in LEDGER_TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'ledger table {table} is append-only'); END"
                )


def downgrade() -> None:
    # Dropping the tables drops their triggers on both dialects.
    op.drop_table("ledger_checkpoint")
    op.drop_table("ledger_node")
    op.drop_index(op.f("ix_ledger_entry_case_id"), table_name="ledger_entry")
    op.drop_table("ledger_entry")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_reject_change()")
