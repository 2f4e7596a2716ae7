"""Instansi as reference data: the seeded ``instansi`` table and ``instansi_code`` on cases and agency records.

Existing cases keep their free-text ``instansi`` and get the code it names where the text matches exactly one
reference instansi (``app.reference.instansi.InstansiMatcher``) whose province agrees with the case's. The others
keep ``instansi_code`` NULL, and the migration logs how many and their case numbers (a WARNING on the console of
``sbt`` or of the service start, which runs the migrations); the API shows them with ``instansi_code: null``, and
refuses to sanction their PPK until the code is set. Existing agency records get NULL (no agency recorded an
instansi before).

Revision ID: 0009
Revises: 0008
"""

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.reference.instansi import InstansiKind, InstansiMatcher, InstansiName
from app.reference.seed import load_rows

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
SHOWN_CASE_NUMBERS = 50


def upgrade() -> None:
    instansi = op.create_table(
        "instansi",
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=5), nullable=True),
        sa.Column("province_code", sa.String(length=2), nullable=True),
        sa.ForeignKeyConstraint(["province_code"], ["province.code"], name=op.f("fk_instansi_province_code_province")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_instansi")),
    )
    rows = load_rows("instansi")
    op.bulk_insert(instansi, rows)
    # batch mode: SQLite cannot add a foreign key to an existing table in place
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("instansi_code", sa.String(length=24), nullable=True))
        batch.create_foreign_key(op.f("fk_case_instansi_code_instansi"), "instansi", ["instansi_code"], ["code"])
        batch.create_index("ix_case_instansi_code", ["instansi_code"], unique=False)
    with op.batch_alter_table("agency_record") as batch:
        batch.add_column(sa.Column("instansi_code", sa.String(length=24), nullable=True))
        batch.create_foreign_key(
            op.f("fk_agency_record_instansi_code_instansi"), "instansi", ["instansi_code"], ["code"]
        )
    _map_existing_cases(rows)


def _map_existing_cases(rows: list[dict[str, Any]]) -> None:
    matcher = InstansiMatcher(
        InstansiName(code=str(row["code"]), name=str(row["name"]), kind=InstansiKind(row["kind"])) for row in rows
    )
    regional_province = {row["code"]: row["province_code"] for row in rows if InstansiKind(row["kind"]).regional}
    case = sa.table(
        "case",
        sa.column("case_number", sa.String),
        sa.column("instansi", sa.String),
        sa.column("province_code", sa.String),
        sa.column("instansi_code", sa.String),
    )
    bind = op.get_bind()
    pairs = bind.execute(sa.select(case.c.instansi, case.c.province_code).distinct()).all()
    for text, province in pairs:
        code = matcher.match(text)
        if code is None or regional_province.get(code, province) != province:
            continue  # no match, or a regional instansi of another province than the case: left for a person
        bind.execute(
            case.update().where(case.c.instansi == text, case.c.province_code == province).values(instansi_code=code)
        )
    unmapped = bind.scalars(
        sa.select(case.c.case_number).where(case.c.instansi_code.is_(None)).order_by(case.c.case_number)
    ).all()
    if unmapped:
        shown = ", ".join(unmapped[:SHOWN_CASE_NUMBERS]) + (" …" if len(unmapped) > SHOWN_CASE_NUMBERS else "")
        log.warning(
            "0009: %d case(s) name an instansi that matches no reference instansi (or one of another province); "
            "their instansi_code stays NULL: %s",
            len(unmapped),
            shown,
        )


def downgrade() -> None:
    with op.batch_alter_table("agency_record") as batch:
        batch.drop_constraint(op.f("fk_agency_record_instansi_code_instansi"), type_="foreignkey")
        batch.drop_column("instansi_code")
    with op.batch_alter_table("case") as batch:
        batch.drop_index("ix_case_instansi_code")
        batch.drop_constraint(op.f("fk_case_instansi_code_instansi"), type_="foreignkey")
        batch.drop_column("instansi_code")
    op.drop_table("instansi")
