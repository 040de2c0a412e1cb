"""The monitor's side of `probe run --alert` (handover.py is the command's side): probes a person
handed over through the store's inbox go through this replica's pipeline, for the hubs it holds,
as confirmed (a failing one pages at once), and the answer is written back for the command."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from loginprobe.model import ProbeResult
from loginprobe.monitor.lease import LeaseKeeper
from loginprobe.monitor.pipeline import Pipeline
from loginprobe.monitor.replica import HubLeases
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.tracks.login import login_key, settled
from loginprobe.monitor.tracks.track import Track
from loginprobe.store import Store


@dataclass
class Inbox:
    settings: Callable[[], Settings]
    store: Store
    pipeline: Pipeline
    lease: LeaseKeeper  # the outbox's holder answers probes of hubs the config does not know
    hubs: HubLeases  # the hubs this replica answers for (a hub nobody holds waits for its next holder)
    look_again: Callable[[str], None]  # probe the hub again soon, as after a failure of its own

    async def take(self) -> None:
        """Every waiting probe this replica is the one to answer (raises LeaseLost)."""
        items = await asyncio.to_thread(self.store.inbox.waiting)
        for item_id, data in items:
            result = ProbeResult.from_json(data)
            fence = self.lease.fence()
            if result is None or result.hub not in self.settings().loaded.config.hubs:
                if fence is None:
                    continue  # the outbox's holder answers it
                outcome = "not a probe of a hub this monitor knows: ignored"
            elif result.hub not in self.hubs.hubs:
                continue  # the hub's replica takes it
            else:
                fence = self.hubs.fence(result.hub)
                actions = await self.pipeline.on_probe(result, confirmed=True, tick=False)
                outcome = (
                    "; ".join(f"{a.kind} {a.dedup_key}" for a in actions)
                    or "nothing to page: the monitor's incident state already says it"
                )
                track = self.pipeline.tracks.get(login_key(result.hub), Track())
                if not settled(track, self.settings().thresholds):
                    self.look_again(result.hub)  # to confirm, or to resolve
            await asyncio.to_thread(self.store.inbox.handled, item_id, outcome, time.time(), fence)
