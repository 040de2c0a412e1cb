"""The store: verdict history, incident tracks and the PagerDuty outbox, in one database; the
lease that gives one `probe serve` at a time the right to write and page."""

from loginprobe.store.lease import Fence, LeaseInfo, LeaseLost
from loginprobe.store.outbox import OutboxEvent, OutboxStats
from loginprobe.store.store import Store, StoreError, sqlite_file_missing

__all__ = [
    "Fence",
    "LeaseInfo",
    "LeaseLost",
    "OutboxEvent",
    "OutboxStats",
    "Store",
    "StoreError",
    "sqlite_file_missing",
]
