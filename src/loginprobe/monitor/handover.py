"""`probe run --alert`: a person's probe goes through the monitor's own pipeline, so that whoever
opens an incident also resolves it.

If no `probe serve` holds the store, `probe run` takes the lease for a moment, moves the hub's
tracks exactly as the monitor would (a failing verdict pages at once: a person asked for it), sends
the events, and gives the lease back; the next `probe serve` resolves the incident when the hub
recovers. If a monitor holds the store, the probe is handed to it (the store's inbox) and it does
the same within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from loginprobe.alerting.pagerduty import build_event
from loginprobe.model import Code, ProbeResult
from loginprobe.monitor.journal import Journal
from loginprobe.monitor.lease import LeaseKeeper, holder_name
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.outbox import OutboxSender
from loginprobe.monitor.pipeline import Pipeline
from loginprobe.monitor.settings import Settings, make_sender
from loginprobe.monitor.tracks.login import incident_key, login_key
from loginprobe.monitor.tracks.track import Action
from loginprobe.store import Fence, LeaseLost, Store, hub_lease
from loginprobe.store.url import shown_url

HANDOVER_WAIT_S = 15.0


@dataclass(frozen=True)
class PageReport:
    delivered: bool  # every event it caused reached PagerDuty (or there were none)
    line: str  # what happened, in one line


def page_now(settings: Settings, store: Store, result: ProbeResult, location: str) -> PageReport:
    lease = LeaseKeeper(
        store, settings.loaded.config.monitor.lease_ttl, holder_name("probe run --alert")
    )
    if lease.acquire():
        # The hub's own lease too: a replica probing the hub (the outbox's holder just gone, say)
        # answers the probe itself; this process must not move its tracks beside it.
        hub = _take_hub(store, lease, result.hub)
        try:
            if hub is not None:
                return asyncio.run(_as_holder(settings, store, lease, hub, result, location))
        finally:
            if hub is not None:
                _let_go(store, hub)
            lease.release()
    return _hand_over(settings, store, lease, result)


def _take_hub(store: Store, lease: LeaseKeeper, hub: str) -> Fence | None:
    try:
        info = store.leases.acquire(hub_lease(hub), lease.holder, lease.ttl, time.time())
    except (SQLAlchemyError, OSError):
        return None
    return Fence(info.name, info.holder, info.token) if info is not None else None


def _let_go(store: Store, hub: Fence) -> None:
    with contextlib.suppress(SQLAlchemyError, OSError):  # else it expires by itself
        store.leases.release(hub)


async def _as_holder(
    settings: Settings,
    store: Store,
    lease: LeaseKeeper,
    hub: Fence,
    result: ProbeResult,
    location: str,
) -> PageReport:
    journal = Journal(
        store, lease.fence, hub_fence=lambda name: hub if name == result.hub else None
    )
    pipeline = Pipeline(
        settings=lambda: settings,
        journal=journal,
        metrics=Metrics(),
        tracks=store.tracks(),
        location=lambda: location,
    )
    try:
        actions = await pipeline.on_probe(result, confirmed=True, tick=False)
    except LeaseLost:
        return PageReport(False, "a probe serve took the store over meanwhile: run it again")
    if not actions:
        return PageReport(True, "nothing to page: the incident state already says it")
    outbox = OutboxSender(
        store,
        journal,
        make_sender(settings),
        lambda: settings.redactor,
        may_send=lease.may_send,
        fence=lease.fence,
    )
    while await outbox.flush_once():
        pass
    await outbox.stop()
    keys = {a.dedup_key for a in actions}
    waiting = _waiting(store, journal, keys)
    said = "; ".join(f"{a.kind} {a.dedup_key}" for a in actions)
    if not waiting:
        return PageReport(True, f"paged PagerDuty: {said}")
    where = (
        f"it waits in the outbox of {shown_url(settings.loaded.config.monitor.state)} and goes out when "
        "`probe serve` runs"
        if journal.writable
        else "the store cannot be written either, so it is lost: page by hand"
    )
    return PageReport(False, f"the page was not delivered ({said}): {where}")


def _waiting(store: Store, journal: Journal, keys: set[str]) -> bool:
    if any(e.dedup_key in keys for e in journal.due()):
        return True
    try:
        item = store.outbox.next_event()
    except (SQLAlchemyError, OSError):
        return False
    return item is not None and item[0].dedup_key in keys


def _hand_over(
    settings: Settings, store: Store, lease: LeaseKeeper, result: ProbeResult
) -> PageReport:
    holder = lease.current_holder()
    who = holder.holder if holder else "another process"
    item = store.inbox.put(settings.redactor.data(result.to_json()), time.time())
    deadline = time.monotonic() + HANDOVER_WAIT_S
    while time.monotonic() < deadline:
        outcome = store.inbox.outcome(item)
        if outcome is not None:
            return PageReport(True, f"handed to the running monitor ({who}): {outcome}")
        time.sleep(0.2)  # polling the store for the monitor's answer
    return PageReport(
        False,
        f"handed to the running monitor ({who}), which has not taken it within "
        f"{HANDOVER_WAIT_S:g}s: it pages when it does",
    )


def page_directly(settings: Settings, result: ProbeResult, location: str) -> PageReport:
    """No monitor's store to go through: trigger the hub's incident straight away (a healthy hub
    or a prober failure pages nobody). Nothing will resolve it by itself."""
    if result.verdict.ok or result.verdict.code is Code.PROBE_ERROR:
        why = "the hub is healthy" if result.verdict.ok else "the prober failed, not the hub"
        return PageReport(True, f"no page sent: {why}")
    key = login_key(result.hub)
    c = settings.loaded.config
    event = settings.redactor.data(
        build_event(
            Action("trigger", incident_key(key, result.verdict), result.verdict),
            result,
            hub_url=c.hubs[result.hub].url,
            location=location,
            runbook_url=c.runbook(str(result.verdict.code)),
            public_url=c.monitor.public_url or "",
        )
    )
    sender = make_sender(settings)
    assert sender is not None
    try:
        delivery = sender.send(event)
    finally:
        sender.close()
    if delivery.outcome != "accepted":
        return PageReport(
            False,
            f"the page was not delivered: PagerDuty {delivery.outcome} it "
            f"(HTTP {delivery.status or 'no answer'}): {settings.redactor.text(delivery.message)}",
        )
    return PageReport(
        True,
        f"paged PagerDuty: trigger {event['dedup_key']}; no monitor will resolve it by itself",
    )
