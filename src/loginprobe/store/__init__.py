"""The store: verdict history, incident tracks and the PagerDuty outbox, in one database."""

from loginprobe.store.store import (
    OutboxEvent,
    OutboxStats,
    Store,
    StoreError,
    sqlite_file_missing,
)

__all__ = ["OutboxEvent", "OutboxStats", "Store", "StoreError", "sqlite_file_missing"]
