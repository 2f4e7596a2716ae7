"""Covering indexes for the monitoring page's aggregates: its scans read an index, never the wide case rows.

``ix_case_monitoring`` holds every column the page groups cases by or tests (province first, so it also serves
what ``ix_case_province_code`` served, which it replaces), and the case id the agency-record join follows;
``ix_case_reported_date`` the day each case was reported (the weekly trend and the months).

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONITORING_COLUMNS = [
    "province_code",
    "stage",
    "violation_code",
    "election_type",
    "election_year",
    "recommendation_date",
    "deadline_date",
    "imposed_sanction_code",
    "sanction_date",
    "id",
]


def upgrade() -> None:
    op.create_index("ix_case_monitoring", "case", MONITORING_COLUMNS)
    op.create_index("ix_case_reported_date", "case", ["reported_date"])
    op.drop_index("ix_case_province_code", table_name="case")


def downgrade() -> None:
    op.create_index("ix_case_province_code", "case", ["province_code"])
    op.drop_index("ix_case_reported_date", table_name="case")
    op.drop_index("ix_case_monitoring", table_name="case")
