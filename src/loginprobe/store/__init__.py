"""The store: verdict history, incident tracks and the PagerDuty outbox, in one database; the
lease that gives one `probe serve` at a time the right to write and page."""

from loginprobe.store.store import (
    Fence,
    LeaseInfo,
    LeaseLost,
    OutboxEvent,
    OutboxStats,
    Store,
    StoreError,
    sqlite_file_missing,
)

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
