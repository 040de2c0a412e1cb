"""The store's tables (SQLAlchemy Core). Changed only through a migration (migrations/versions/).

History is kept compact: a healthy probe is one small row (the hub's id, when, the code, the ms of
each step); the full result (steps with URLs and statuses, the verdict's evidence) is kept only for
failures, for anything unusual, and for each hub's latest probe. `hub_state` answers "since when"
and "the last failure" without walking a hub's past.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

hubs = Table(
    "hubs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
)

step_names = Table(
    "step_names",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False, unique=True),
)

probes = Table(
    "probes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hub_id", Integer, ForeignKey("hubs.id"), nullable=False),
    Column("started_at", Float, nullable=False),  # Unix time
    Column("code", String(40), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("steps", String(400), nullable=False),  # "<step id>:<ms>,..." in the order walked
    Index("ix_probes_hub_started", "hub_id", "started_at"),
)

# The whole result (ProbeResult.to_json(), redacted) of failures, unusual probes and each hub's
# latest probe.
results = Table(
    "results",
    metadata,
    Column("probe_id", Integer, ForeignKey("probes.id"), primary_key=True),
    Column("result", Text, nullable=False),
)

hub_state = Table(
    "hub_state",
    metadata,
    Column("hub_id", Integer, ForeignKey("hubs.id"), primary_key=True),
    Column("code", String(40), nullable=False),  # the latest probe's
    Column("since", Float, nullable=False),  # when the run of that code began
    Column("last_probe_id", Integer, nullable=False),
    Column("last_failure_id", Integer),  # the latest probe that was not ok
)

# Availability's raw material (history/availability.py): per hub and hour (Unix time // 3600), the
# seconds the hub's probes spoke for, by kind, and the worst verdict of the probes that started in
# the hour. Written with each probe; what `probe report`, `probe list` and the hub page read, so that
# none of them walks a month of probes.
hourly = Table(
    "hourly",
    metadata,
    Column("hub_id", Integer, ForeignKey("hubs.id"), primary_key=True),
    Column("hour", Integer, primary_key=True),
    Column("up_s", Float, nullable=False, default=0.0),
    Column("down_s", Float, nullable=False, default=0.0),
    Column("prober_s", Float, nullable=False, default=0.0),
    Column("silenced_s", Float, nullable=False, default=0.0),
    Column("probes", Integer, nullable=False, default=0),
    Column("worst", String(40)),
)

tracks = Table(
    "tracks",
    metadata,
    Column("key", String(300), primary_key=True),  # loginprobe/<hub>/login, ...
    Column("state", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(300), nullable=False),
    Column("event", Text, nullable=False),  # Events API v2 body without routing_key
    Column("created_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Column("rejected", Boolean, nullable=False, default=False),
)

# One holder at a time: `probe serve` holds the row named "monitor" while it probes and pages. The
# token grows with every new holder; every write of the holder checks it (fencing), so a holder that
# lost the lease (paused, cut off) can never write over its successor.
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(300), nullable=False),
    Column("token", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("acquired_at", Float, nullable=False),
)

# The `probe serve` replicas sharing the hubs, each renewing its row while it runs: the hubs are
# spread over the live ones (a hub's own lease is the `leases` row named `hub:<name>`).
replicas = Table(
    "replicas",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("location", String(200), nullable=False),
)

# Probes handed to the lease holder by `probe run --alert` while a monitor runs: it puts them
# through its own pipeline, so that whoever opens an incident also resolves it.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hub", String(200), nullable=False),
    Column("result", Text, nullable=False),  # the probe's JSON, redacted
    Column("created_at", Float, nullable=False),
    Column("handled_at", Float),
    Column("outcome", Text),  # what the monitor did with it, in words
)

# Small facts the monitor keeps for others to read (e.g. what a probe costs here, for `probe check`).
meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Silences (`probe silence`): a hub's, or a group's IdP's (`idp:GROUP`), outages page nobody from
# `starts` to `until`; `ended_at` when someone ended it early (`probe unsilence`).
silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(300), nullable=False),
    Column("starts", Float, nullable=False),
    Column("until", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("ended_at", Float),
    Index("ix_silences_until", "until"),
)

# What each location saw of each hub at its latest probe there (`[monitor] quorum` above 1): the
# hub's own replica records its location's, a witness replica of every other location its own.
# One row per (hub, location), overwritten.
sightings = Table(
    "sightings",
    metadata,
    Column("hub", String(200), primary_key=True),
    Column("location", String(200), primary_key=True),
    Column("replica", String(200), nullable=False),
    Column("code", String(40), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("summary", Text, nullable=False),
    Column("at", Float, nullable=False),  # Unix time the probe started
)
