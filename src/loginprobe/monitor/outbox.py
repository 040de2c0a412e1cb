"""Delivery: the outbox sender sends the store's PagerDuty events, oldest first, until PagerDuty
takes them; connection errors, 5xx and 429 are retried with backoff, across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from loginprobe.alerting.pagerduty import PagerDutySender
from loginprobe.redact import Redactor
from loginprobe.store import Store

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
        sender: PagerDutySender | None,
        redactor: Callable[[], Redactor],
    ) -> None:
        self.store = store
        self.sender = sender
        self._redactor = redactor
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox")

    def wake(self) -> None:
        self._wake.set()

    def use(self, sender: PagerDutySender | None) -> None:
        """Swap in the sender of a reloaded config; the old one is closed."""
        old, self.sender = self.sender, sender
        if old is not None:
            old.close()

    async def stop(self) -> None:
        """Try once more to send what is due, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=5)
        if self.sender is not None:
            self.sender.close()

    async def _loop(self) -> None:
        while True:
            delivered_any = await self.flush_once()
            if self._stopping:
                return
            if delivered_any:
                continue
            item = self.store.next_event()
            wait = 5.0 if item is None else max(0.05, min(5.0, item[1] - time.time()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def flush_once(self) -> bool:
        """Send the oldest due event, if any. True if one was delivered (look again at once)."""
        if self.sender is None:
            return False
        item = self.store.next_event()
        if item is None or item[1] > time.time():
            return False
        event, _ = item
        sender = self.sender
        delivery = await asyncio.to_thread(sender.send, event.event)
        redactor = self._redactor()
        if delivery.outcome == "accepted":
            self.store.delivered(event.id)
            log.info(
                "pagerduty accepted",
                dedup_key=event.dedup_key,
                action=event.event["event_action"],
                attempts=event.attempts + 1,
            )
            return True
        message = redactor.text(delivery.message)
        if delivery.outcome == "rejected":
            # PagerDuty will never take this event: a bug in what we send. Keep it, say it loudly.
            self.store.reject(event.id, f"HTTP {delivery.status}: {message}")
            log.error(
                "pagerduty rejected an event; it is kept in the outbox and will not be retried",
                dedup_key=event.dedup_key,
                status=delivery.status,
                pagerduty_says=message,
            )
            return True
        attempts = event.attempts + 1
        delay = backoff(attempts)
        self.store.defer(
            event.id,
            attempts,
            time.time() + delay,
            f"HTTP {delivery.status}: {message}" if delivery.status else message,
        )
        log.warning(
            "pagerduty delivery failed; will retry",
            dedup_key=event.dedup_key,
            status=delivery.status,
            error=message,
            attempts=attempts,
            retry_in_s=delay,
        )
        return False
