"""Replicas share the hubs: each `probe serve` replica's heartbeat (`replicas`); the hubs' own
leases are rows of `leases` named `hub:<name>`.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replicas")
