"""Every open stage has a deadline or ageing threshold; the day an incident became known; why a case was reopened.

Existing open cases get their current stage's deadline under the new rules (the stages that had none, and the PPK
and reprimand deadlines now counted in working days), computed with the deployment's settings as the application
computes it; the reconciliation state keeps the same copy.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.cases.service import deadline_for
from app.cases.workflow import STAGE_DEADLINES, Stage
from app.core.config import get_settings
from app.core.db import GUID

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_case = sa.table(
    "case",
    sa.column("id", GUID()),
    sa.column("stage", sa.String()),
    sa.column("stage_entered_on", sa.Date()),
    sa.column("election_type", sa.String()),
    sa.column("deadline_date", sa.Date()),
)
_state = sa.table("reconciliation_case_state", sa.column("case_id", GUID()), sa.column("deadline_date", sa.Date()))


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("known_date", sa.Date(), nullable=True))
    with op.batch_alter_table("case_transition") as batch:
        batch.add_column(sa.Column("reopen_reason", sa.String(length=32), nullable=True))

    settings = get_settings()
    connection = op.get_bind()
    open_cases = connection.execute(
        sa.select(_case.c.id, _case.c.stage, _case.c.stage_entered_on, _case.c.election_type).where(
            _case.c.stage.in_([stage.value for stage in STAGE_DEADLINES])
        )
    )
    for case_id, stage, entered_on, election_type in open_cases.all():
        deadline = deadline_for(Stage(stage), entered_on, settings, election_type)
        connection.execute(sa.update(_case).where(_case.c.id == case_id).values(deadline_date=deadline))
        connection.execute(sa.update(_state).where(_state.c.case_id == case_id).values(deadline_date=deadline))


def downgrade() -> None:
    # The recomputed deadlines stay: each is the stage's deadline under the newer rules, harmless to older code.
    with op.batch_alter_table("case_transition") as batch:
        batch.drop_column("reopen_reason")
    with op.batch_alter_table("case") as batch:
        batch.drop_column("known_date")
