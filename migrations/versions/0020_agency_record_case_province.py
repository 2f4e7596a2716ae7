"""The case's province copied onto its agency records, for the monitoring page's agency counts per province.

The page counts, per province, the cases each agency holds a record of; joining 100k cases to their records was
most of the page's time (an index look-up per case on SQLite, a hash join on PostgreSQL). With the province on the
record, one scan of ``ix_agency_record_case_province`` in its order answers it. Database triggers keep the copy in
the writing transaction, for every writer (the flows, batches, bulk loads): a record takes its case's province
as it is inserted, and a case's new province goes to its records. Existing records are filled here.

SQLite drops a table's triggers with the table: a later migration that rebuilds ``agency_record`` or ``case`` in
batch mode must create them again (``create_triggers``).

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_agency_record_case_province"
PG_FUNCTIONS = {
    "agency_record_take_case_province": """
        CREATE FUNCTION agency_record_take_case_province() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.case_province_code := (SELECT province_code FROM "case" WHERE id = NEW.case_id);
            RETURN NEW;
        END $$""",
    "case_give_province_to_records": """
        CREATE FUNCTION case_give_province_to_records() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE agency_record SET case_province_code = NEW.province_code WHERE case_id = NEW.id;
            RETURN NULL;
        END $$""",
}


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in PG_FUNCTIONS.values():
            op.execute(function)
        op.execute(
            "CREATE TRIGGER agency_record_case_province BEFORE INSERT OR UPDATE OF case_id ON agency_record "
            "FOR EACH ROW EXECUTE FUNCTION agency_record_take_case_province()"
        )
        op.execute(
            'CREATE TRIGGER case_province_to_records AFTER UPDATE OF province_code ON "case" FOR EACH ROW '
            "WHEN (OLD.province_code IS DISTINCT FROM NEW.province_code) "
            "EXECUTE FUNCTION case_give_province_to_records()"
        )
        return
    op.execute(
        "CREATE TRIGGER agency_record_case_province AFTER INSERT ON agency_record BEGIN "
        'UPDATE agency_record SET case_province_code = (SELECT province_code FROM "case" WHERE id = NEW.case_id) '
        "WHERE id = NEW.id; END"
    )
    op.execute(
        "CREATE TRIGGER agency_record_case_moved AFTER UPDATE OF case_id ON agency_record BEGIN "
        'UPDATE agency_record SET case_province_code = (SELECT province_code FROM "case" WHERE id = NEW.case_id) '
        "WHERE id = NEW.id; END"
    )
    op.execute(
        'CREATE TRIGGER case_province_to_records AFTER UPDATE OF province_code ON "case" '
        "WHEN OLD.province_code IS NOT NEW.province_code BEGIN "
        "UPDATE agency_record SET case_province_code = NEW.province_code WHERE case_id = NEW.id; END"
    )


def upgrade() -> None:
    # in place, not in batch mode: SQLite cannot copy a table other tables' rows refer to
    op.add_column("agency_record", sa.Column("case_province_code", sa.String(length=2), nullable=True))
    op.execute(
        'UPDATE agency_record SET case_province_code = (SELECT province_code FROM "case" '
        'WHERE "case".id = agency_record.case_id)'
    )
    op.create_index(INDEX, "agency_record", ["case_province_code", "agency"])
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP TRIGGER case_province_to_records ON "case"')
        op.execute("DROP TRIGGER agency_record_case_province ON agency_record")
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in ("case_province_to_records", "agency_record_case_moved", "agency_record_case_province"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index(INDEX, table_name="agency_record")
    op.drop_column("agency_record", "case_province_code")
