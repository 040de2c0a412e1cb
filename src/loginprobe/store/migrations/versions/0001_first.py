"""The first store: verdict history (one row of full JSON per probe), tracks, the outbox.

Stores made before migrations existed have exactly these tables and are stamped with this
revision when first opened.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hub", sa.String(200), nullable=False, index=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("step", sa.String(80)),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_table(
        "tracks",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(300), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("rejected", sa.Boolean, nullable=False, default=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the store only moves forward; restore a backup to go back")
