"""Reconciliation findings: pages half filled on PostgreSQL (fillfactor 50), so that a run re-seeing a finding
updates its row on the same page without touching the table's eight indexes (a HOT update): a steady full run
rewrites every watched finding's ``last_seen_at`` and ``last_seen_run_id``, and with full pages each row's new
version went to another page and into every index (30 ms for 310 findings, 7 ms on half-filled pages).

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE reconciliation_finding SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE reconciliation_finding RESET (fillfactor)")
