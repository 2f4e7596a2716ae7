"""Key-based client authentication: a client's token endpoint auth method and its registered public keys.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECKS = {
    "auth_method": "token_endpoint_auth_method IN ('client_secret_basic', 'private_key_jwt')",
    "secret_iff_secret_method": "(token_endpoint_auth_method = 'client_secret_basic') = (secret_hash IS NOT NULL)",
    "jwks_iff_key_method": "(token_endpoint_auth_method = 'private_key_jwt') = (jwks IS NOT NULL)",
}


def upgrade() -> None:
    # Existing clients all have secrets: the server default names their method.
    with op.batch_alter_table("oauth_client") as batch:
        batch.add_column(
            sa.Column(
                "token_endpoint_auth_method",
                sa.String(length=32),
                server_default="client_secret_basic",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        batch.alter_column("secret_hash", existing_type=sa.String(length=200), nullable=True)
        for name, condition in _CHECKS.items():
            batch.create_check_constraint(op.f(f"ck_oauth_client_{name}"), condition)


def downgrade() -> None:
    # Key clients have no secret to fall back to: they cannot survive the downgrade.
    op.execute("DELETE FROM oauth_client WHERE token_endpoint_auth_method = 'private_key_jwt'")
    with op.batch_alter_table("oauth_client") as batch:
        for name in _CHECKS:
            batch.drop_constraint(op.f(f"ck_oauth_client_{name}"), type_="check")
        batch.alter_column("secret_hash", existing_type=sa.String(length=200), nullable=False)
        batch.drop_column("jwks")
        batch.drop_column("token_endpoint_auth_method")
