"""Compact history, the lease, the inbox and a table of small facts (meta).

A healthy probe becomes one small row (hub id, time, code, ms per step); the full result is kept for
failures, unusual probes and each hub's latest probe; `hub_state` holds since-when and the last
failure. The verdicts of an existing store are converted in place, oldest first, in batches.

Revision ID: 0002
"""

import json
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "hubs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
    )
    op.create_table(
        "step_names",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False, unique=True),
    )
    op.create_table(
        "probes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hub_id", sa.Integer, sa.ForeignKey("hubs.id"), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("steps", sa.String(400), nullable=False),
    )
    op.create_index("ix_probes_hub_started", "probes", ["hub_id", "started_at"])
    op.create_table(
        "results",
        sa.Column("probe_id", sa.Integer, sa.ForeignKey("probes.id"), primary_key=True),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_table(
        "hub_state",
        sa.Column("hub_id", sa.Integer, sa.ForeignKey("hubs.id"), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("last_probe_id", sa.Integer, nullable=False),
        sa.Column("last_failure_id", sa.Integer),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("token", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
    )
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hub", sa.String(200), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("handled_at", sa.Float),
        sa.Column("outcome", sa.Text),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    _convert(op.get_bind())
    op.drop_table("verdicts")


def _tables() -> SimpleNamespace:
    """The compact tables as this revision made them (later revisions may change them)."""
    md = sa.MetaData()
    return SimpleNamespace(
        hubs=sa.Table(
            "hubs", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String)
        ),
        step_names=sa.Table(
            "step_names",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String),
        ),
        probes=sa.Table(
            "probes",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("hub_id", sa.Integer),
            sa.Column("started_at", sa.Float),
            sa.Column("code", sa.String),
            sa.Column("duration_ms", sa.Integer),
            sa.Column("steps", sa.String),
        ),
        results=sa.Table(
            "results",
            md,
            sa.Column("probe_id", sa.Integer, primary_key=True),
            sa.Column("result", sa.Text),
        ),
        hub_state=sa.Table(
            "hub_state",
            md,
            sa.Column("hub_id", sa.Integer, primary_key=True),
            sa.Column("code", sa.String),
            sa.Column("since", sa.Float),
            sa.Column("last_probe_id", sa.Integer),
            sa.Column("last_failure_id", sa.Integer),
        ),
    )


def _convert(conn: sa.Connection) -> None:
    """Every verdict row into the compact tables, oldest first, the way the store writes them."""
    from loginprobe.store.history import HistoryWriter  # the one place that knows the layout

    writer = HistoryWriter(_tables())
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, hub, started_at, result FROM verdicts WHERE id > :last "
                "ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            return
        for row in rows:
            result = _parse(row.result)
            result.setdefault("hub", row.hub)
            result.setdefault("started_at", row.started_at)
            writer.write(conn, result)
            last = row.id


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def downgrade() -> None:
    raise NotImplementedError("the store only moves forward; restore a backup to go back")
