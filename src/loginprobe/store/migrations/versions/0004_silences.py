"""Silences: a hub's (or a group's IdP's, `idp:GROUP`) outages page nobody until a time.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("starts", sa.Float, nullable=False),
        sa.Column("until", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("ended_at", sa.Float),
    )
    op.create_index("ix_silences_until", "silences", ["until"])


def downgrade() -> None:
    op.drop_index("ix_silences_until", "silences")
    op.drop_table("silences")
