"""Hourly rollups for availability: per hub and hour, the seconds its probes spoke for (up, down,
the prober's own failures, silenced) and the hour's worst verdict. An existing store's probes are
rolled up in place, each hub oldest first.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    hourly = op.create_table(
        "hourly",
        sa.Column("hub_id", sa.Integer, sa.ForeignKey("hubs.id"), primary_key=True),
        sa.Column("hour", sa.Integer, primary_key=True),
        sa.Column("up_s", sa.Float, nullable=False, default=0.0),
        sa.Column("down_s", sa.Float, nullable=False, default=0.0),
        sa.Column("prober_s", sa.Float, nullable=False, default=0.0),
        sa.Column("silenced_s", sa.Float, nullable=False, default=0.0),
        sa.Column("probes", sa.Integer, nullable=False, default=0),
        sa.Column("worst", sa.String(40)),
    )
    assert hourly is not None
    _backfill(op.get_bind(), hourly)


def _backfill(conn: sa.Connection, hourly: sa.Table) -> None:
    from loginprobe.store.history import rollup  # the one place that knows how time is credited

    probes = sa.table(
        "probes",
        sa.column("hub_id", sa.Integer),
        sa.column("started_at", sa.Float),
        sa.column("code", sa.String),
    )
    rows = conn.execute(
        sa.select(probes.c.hub_id, probes.c.started_at, probes.c.code).order_by(
            probes.c.hub_id, probes.c.started_at
        )
    )
    batch = rollup(rows)
    if batch:
        op.bulk_insert(hourly, batch)


def downgrade() -> None:
    op.drop_table("hourly")
