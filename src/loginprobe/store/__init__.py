"""The store: verdict history, incident tracks and the PagerDuty outbox, in one database; the
lease that gives one `probe serve` at a time the right to write and page."""

from loginprobe.store.lease import Fence, LeaseInfo, LeaseLost, ReplicaInfo, hub_lease
from loginprobe.store.outbox import OutboxEvent, OutboxStats
from loginprobe.store.store import Store, StoreError, TrackConflict, sqlite_file_missing

__all__ = [
    "Fence",
    "LeaseInfo",
    "LeaseLost",
    "OutboxEvent",
    "OutboxStats",
    "ReplicaInfo",
    "Store",
    "StoreError",
    "TrackConflict",
    "hub_lease",
    "sqlite_file_missing",
]
