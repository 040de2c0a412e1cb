"""Writing what the pipeline decided, even when the store cannot take it.

A probe's verdict, the tracks it moved and the events it caused go to the store in one transaction.
When that fails (disk full, a read-only file, the database gone), nothing is lost and no page is
silenced: the record waits here, in order, its events go out from memory (the outbox sender asks
`due()`), and the whole record is written when the store recovers, without the events that were
delivered meanwhile, so nothing is sent twice. /healthz says the store is failing from the first
failed write. A held record that moved a shared track (one other replicas move too) is written
as it is only if no other replica has moved that track since its reaction read it; else it is
written without its shared tracks (`HeldRecord.without_shared`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.monitor.silences import Silence
from loginprobe.monitor.tracks.track import Track
from loginprobe.store import Fence, LeaseLost, Store, TrackConflict, hub_lease

log = structlog.get_logger("loginprobe")


@dataclass
class HeldEvent:
    """An event the store could not take: delivered from memory."""

    event: dict[str, Any]
    created_at: float
    attempts: int = 0
    next_attempt_at: float = 0.0
    delivered: bool = False
    sending: bool = False  # a send is in flight: the record must not be written meanwhile
    last_error: str | None = None

    @property
    def dedup_key(self) -> str:
        return str(self.event.get("dedup_key", ""))


@dataclass
class HeldRecord:
    result_json: dict[str, Any] | None
    moved: dict[str, Track]
    events: list[HeldEvent]
    now: float
    now_iso: str
    hub: str | None = None  # whose lease the write needs (replicas)
    # Shared tracks as read before reacting (key -> stored text, None: absent): written only if
    # no other replica moved them meanwhile.
    expect: dict[str, str | None] | None = None
    compare: bool = True  # at its first try (a caller's last conflict retry writes blind)
    writing: bool = False  # the store is taking it (in a thread that runs to its end)

    def without_shared(self) -> None:
        """Another replica moved a shared track after this record's reaction read it, and the
        reaction is long over (held through a store failure): drop the record's moves of the
        shared tracks and their events, and write the rest (the verdict, the hub's own tracks,
        as memory has them too). Written over, the other replica's move would be undone: an
        IdP's open incident closed, its resolve never sent. The next reaction that reads them
        moves the shared tracks again; a hub's page the dropped move held back is released by
        the hub's next failing probe if nothing covers it then."""
        # What memory already sent (a lone monitor on SQLite) is written as it was, over what
        # the other replica left: the store must know of a page PagerDuty has, or no resolve
        # would ever follow it.
        sent = {e.dedup_key for e in self.events if e.delivered}
        keys = {k for k in self.expect or {} if k.removeprefix("held:") not in sent}
        self.moved = {k: t for k, t in self.moved.items() if k not in keys}
        self.events = [
            e for e in self.events if e.dedup_key not in keys and f"held:{e.dedup_key}" not in keys
        ]
        self.expect = None


@dataclass
class Journal:
    store: Store
    fence: Callable[[], Fence | None] = lambda: None
    # Replicas: the fence of the hub's own lease, checked in the write's transaction (None: this
    # replica does not hold the hub, and writes nothing about it).
    hub_fence: Callable[[str], Fence | None] | None = None
    on_error: Callable[[], None] = lambda: None  # counts a failed write (metrics)
    clock: Callable[[], float] = time.time
    held: list[HeldRecord] = field(default_factory=list)
    failing_since: float | None = None
    last_error: str | None = None
    _writing: asyncio.Lock = field(default_factory=asyncio.Lock)

    def read_back(self, now: float) -> tuple[dict[str, Track], list[Silence] | None]:
        """The stored tracks and the silences in force: where the last holder of a hub left off
        (store reads only: call it in a worker thread from the event loop)."""
        try:
            stored = self.store.tracks()
        except (SQLAlchemyError, OSError) as err:
            log.error("cannot read the incident tracks; starting from none", error=_first(err))
            stored = {}
        try:
            silences: list[Silence] | None = self.store.silences.current(now)
        except (SQLAlchemyError, OSError) as err:
            log.error("cannot read the silences; none until the store answers", error=_first(err))
            silences = None
        return stored, silences

    @property
    def writable(self) -> bool:
        return self.failing_since is None

    async def write(
        self,
        result_json: dict[str, Any] | None,
        moved: dict[str, Track],
        events: list[dict[str, Any]],
        now: float,
        now_iso: str,
        hub: str | None = None,
        expect: dict[str, str | None] | None = None,
        compare: bool = True,
        try_now: bool = True,
    ) -> None:
        """Write now, or hold (in order: nothing overtakes what is already held). The database
        work runs in a thread, off the event loop. LeaseLost propagates: the caller must stop.
        TrackConflict (only with `expect` and `compare`, only when nothing was held): nothing
        was written or held; react again. `compare`: compare now (a record held is compared
        whenever it is written); `try_now`: False to hold it without asking the store (it has
        just refused)."""
        record = HeldRecord(
            result_json,
            dict(moved),
            [HeldEvent(e, now, next_attempt_at=now) for e in events],
            now,
            now_iso,
            hub,
            expect if not self.held else None,
            compare,
        )
        self.held.append(record)
        if try_now:
            await self.flush(own=record)

    def fences(self, hub: str | None) -> list[Fence]:
        fences = [f for f in [self.fence()] if f is not None]
        if hub is not None and self.hub_fence is not None:
            f = self.hub_fence(hub)
            if f is None:
                raise LeaseLost(
                    f"this replica does not hold {hub}'s lease",
                    hub_lease(hub),
                    # Found here, not at the store: it lapsed (a replica cut off from the
                    # store cannot know whether another took it since).
                    reason="its lease ran out or passed to another replica",
                )
            fences.append(f)
        return fences

    async def flush(self, own: HeldRecord | None = None) -> bool:
        """Write what is held, oldest first; True when nothing is held any more. `own`: the
        record its caller just made, whose TrackConflict is the caller's to react to."""
        async with self._writing:
            while self.held:
                record = self.held[0]
                if record.writing or any(e.sending for e in record.events):
                    return False  # the store or the sender has it in hand: after that
                try:
                    # Shielded: a probe cancelled meanwhile (its hub handed to another replica)
                    # leaves the write, which its thread finishes anyway, to finish its books.
                    compare = record.compare or record is not own
                    await asyncio.shield(self._write(record, compare))
                except TrackConflict as conflict:
                    if record is own:
                        self._done(record)
                        raise
                    # Held: its reaction is long over, nobody reacts again. Write the rest.
                    log.info(
                        "a shared track moved while this record was held; writing it without "
                        "the shared tracks",
                        key=str(conflict),
                    )
                    record.without_shared()
                    continue
                except LeaseLost as lost:
                    if lost.hub is not None:  # another replica has the hub: drop what was its
                        self.held = [r for r in self.held if r.hub != lost.hub]
                    raise
                except (SQLAlchemyError, OSError) as err:
                    self._failed(err)
                    return False
                if self.failing_since is not None and not self.held:
                    log.warning(
                        "the store is writable again; everything held in memory is written",
                        failed_for_s=round(self.clock() - self.failing_since, 1),
                    )
                    self.failing_since, self.last_error = None, None
        return True

    async def _write(self, record: HeldRecord, compare: bool) -> None:
        waiting = [e for e in record.events if not e.delivered]
        record.writing = True
        for e in waiting:
            e.sending = True  # on their way into the store: the sender leaves them be
        try:
            await asyncio.to_thread(
                self.store.record,
                record.result_json,
                record.moved,
                [e.event for e in waiting],
                record.now,
                record.now_iso,
                self.fences(record.hub),
                record.expect if compare else None,
            )
        finally:
            record.writing = False
            for e in waiting:
                e.sending = False
        self._done(record)

    def _done(self, record: HeldRecord) -> None:
        """Written (or refused for good): out of memory. By identity, not by place: while the
        store wrote it, a hub handed to another replica may have taken records out of `held`."""
        self.held = [r for r in self.held if r is not record]

    def _failed(self, err: BaseException) -> None:
        self.on_error()
        first = _first(err)
        if self.failing_since is None:
            self.failing_since = self.clock()
            log.error(
                "the store cannot be written; verdicts, incidents and pages are kept in memory "
                "until it can (a lone monitor on SQLite sends the pages from there)",
                error=first,
            )
        self.last_error = first

    def due(self) -> list[HeldEvent]:
        """Events only memory holds, not yet delivered, oldest first (not those being written)."""
        return [e for r in self.held for e in r.events if not e.delivered and not e.sending]


def _first(err: BaseException) -> str:
    """An error's first line: what a person needs in the log (a store's tracebacks say nothing
    more about why it cannot be reached)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
