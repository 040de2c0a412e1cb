"""Delivery: the outbox sender sends PagerDuty events oldest first, until PagerDuty takes them.

Connection errors, 5xx and 429 are retried with backoff, across restarts. An event PagerDuty
refuses (400) is set aside for a human (`probe outbox`), out of the way of the ones behind it.
The sender never dies of an error: whatever goes wrong is logged and retried with backoff; /healthz
says so if the loop ends anyway. It sends only while this monitor holds the store's lease, so two
monitors never page for one outage, and a paused monitor that lost its lease never sends a trigger
after its successor sent the resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.alerting.pagerduty import Delivery, PagerDutySender
from loginprobe.monitor.journal import HeldEvent, Journal
from loginprobe.redact import Redactor
from loginprobe.store import Fence, LeaseLost, OutboxEvent, Store

log = structlog.get_logger("loginprobe")

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 30.0


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts` (1, 2, ...) of an undelivered event."""
    return float(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempts - 1)))


class OutboxSender:
    def __init__(
        self,
        store: Store,
        journal: Journal,
        sender: PagerDutySender | None,
        redactor: Callable[[], Redactor],
        may_send: Callable[[], bool] = lambda: True,
        fence: Callable[[], Fence | None] = lambda: None,
        on_lease_lost: Callable[[], None] = lambda: None,
        from_memory: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
        retry_delay: Callable[[int], float] = backoff,
    ) -> None:
        self.store = store
        self.journal = journal
        self._sender = sender
        self._next: list[PagerDutySender | None] = []  # a reloaded config's sender, not yet in use
        self._redactor = redactor
        self._may_send = may_send
        self._fence = fence
        self._on_lease_lost = on_lease_lost
        self._from_memory = from_memory  # may events only memory holds be sent?
        self._clock = clock
        self._delay = retry_delay
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # Delivered, but the store could not be told yet: never sent again meanwhile.
        self._unsaved: set[int] = set()
        self.crashes = 0

    @property
    def configured(self) -> bool:
        """PagerDuty is configured (in the config now in force)."""
        return (self._next[-1] if self._next else self._sender) is not None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.alive:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="outbox")

    def wake(self) -> None:
        self._wake.set()

    def use(self, sender: PagerDutySender | None) -> None:
        """A reloaded config's sender: swapped in between sends, never under one in flight."""
        self._next.append(sender)
        self._wake.set()

    def _swap(self) -> None:
        while self._next:
            old, self._sender = self._sender, self._next.pop(0)
            if old is not None and old is not self._sender:
                old.close()

    async def stop(self) -> None:
        """Try once more to send what is due, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=5)
            if not self._task.done():
                self._task.cancel()
        self._swap()
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    async def _loop(self) -> None:
        failures = 0
        while True:
            try:
                delivered_any = await self.flush_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug, a database error, a closed client: say it, wait, go on. Never die.
                failures += 1
                self.crashes += 1
                log.error("outbox sender failed; retrying", exc_info=True, attempt=failures)
                delivered_any = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_wait(), self._delay(failures))
                if self._stopping:
                    return
                continue
            if self._stopping:
                return
            if delivered_any:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_wait(), await self._next_wait())

    async def _wake_wait(self) -> None:
        self._wake.clear()
        await self._wake.wait()

    async def _next_wait(self) -> float:
        now = self._clock()
        due = [e.next_attempt_at for e in self._held_due()]
        with contextlib.suppress(SQLAlchemyError, OSError):
            item = await asyncio.to_thread(self.store.outbox.next_event, set(self._unsaved))
            if item is not None:
                due.append(item[1])
        return max(0.05, min([5.0, *(d - now for d in due)]))

    async def flush_once(self) -> bool:
        """Send the oldest due event, if any. True if one was delivered (look again at once)."""
        self._swap()
        await self._save_unsaved()
        if self._sender is None or not await asyncio.to_thread(self._may_send):
            return False
        try:
            item = await asyncio.to_thread(self.store.outbox.next_event, set(self._unsaved))
        except (SQLAlchemyError, OSError):
            item = None  # the store cannot be read: what only memory holds still goes out
        if item is not None:
            event, due_at = item
            if due_at > self._clock():
                return False
            return await self._send_stored(event)
        held = self._held_due()
        if held and held[0].next_attempt_at <= self._clock():
            return await self._send_held(held[0])
        return False

    def _held_due(self) -> list[HeldEvent]:
        return self.journal.due() if self._from_memory() else []

    async def _save_unsaved(self) -> None:
        for event_id in sorted(self._unsaved):
            try:
                await asyncio.to_thread(self.store.outbox.delivered, event_id, self._fence())
            except LeaseLost:
                self._unsaved.clear()
                self._on_lease_lost()
                return
            except (SQLAlchemyError, OSError):
                return
            self._unsaved.discard(event_id)

    async def _deliver(self, event: dict[str, Any]) -> Delivery:
        assert self._sender is not None
        return await asyncio.to_thread(self._sender.send, event)

    async def _send_stored(self, event: OutboxEvent) -> bool:
        delivery = await self._deliver(event.event)
        if delivery.outcome == "accepted":
            self._accepted(event.dedup_key, event.event, event.attempts + 1)
            self._unsaved.add(event.id)
            await self._save_unsaved()
            return True
        message = self._redactor().text(delivery.message)
        fence = self._fence()
        try:
            if delivery.outcome == "rejected":
                await asyncio.to_thread(
                    self.store.outbox.reject, event.id, f"HTTP {delivery.status}: {message}", fence
                )
                self._rejected(event.dedup_key, delivery.status, message)
                return True
            attempts = event.attempts + 1
            await asyncio.to_thread(
                self.store.outbox.defer,
                event.id,
                attempts,
                self._clock() + self._delay(attempts),
                f"HTTP {delivery.status}: {message}" if delivery.status else message,
                fence,
            )
        except LeaseLost:
            self._on_lease_lost()
            return False
        self._deferred(event.dedup_key, delivery.status, message, event.attempts + 1)
        return False

    async def _send_held(self, held: HeldEvent) -> bool:
        held.sending = True
        try:
            delivery = await self._deliver(held.event)
        finally:
            held.sending = False
        if delivery.outcome == "accepted":
            held.delivered = True
            self._accepted(held.dedup_key, held.event, held.attempts + 1)
            await self.journal.flush()
            return True
        message = self._redactor().text(delivery.message)
        if delivery.outcome == "rejected":
            # It cannot be set aside in a store that cannot be written: log it loudly and drop it.
            held.delivered = True
            self._rejected(held.dedup_key, delivery.status, message)
            return True
        held.attempts += 1
        held.next_attempt_at = self._clock() + self._delay(held.attempts)
        held.last_error = message
        self._deferred(held.dedup_key, delivery.status, message, held.attempts)
        return False

    def _accepted(self, dedup_key: str, event: dict[str, Any], attempts: int) -> None:
        log.info(
            "pagerduty accepted",
            dedup_key=dedup_key,
            action=event.get("event_action"),
            attempts=attempts,
        )

    def _rejected(self, dedup_key: str, status: int | None, message: str) -> None:
        # PagerDuty will never take this event: a bug in what we send. Say it loudly.
        log.error(
            "pagerduty rejected an event; it is set aside (see `probe outbox`) and not retried",
            dedup_key=dedup_key,
            status=status,
            pagerduty_says=message,
        )

    def _deferred(self, dedup_key: str, status: int | None, message: str, attempts: int) -> None:
        log.warning(
            "pagerduty delivery failed; will retry",
            dedup_key=dedup_key,
            status=status,
            error=message,
            attempts=attempts,
            retry_in_s=self._delay(attempts),
        )
