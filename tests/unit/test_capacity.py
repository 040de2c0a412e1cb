"""What a probe costs and whether the machine keeps up: the estimate, the meter, the fair queue."""

from __future__ import annotations

import asyncio
import os
import time

from loginprobe.config import Config
from loginprobe.monitor.capacity import CostMeter, estimate, needed_per_min, process_tree_cpu
from loginprobe.monitor.pool import RETRY_HEAD_START_S, Slots


def fleet(hubs: int, interval: str = "60s", concurrency: int = 4) -> Config:
    return Config.model_validate(
        {
            "monitor": {"interval": interval, "concurrency": concurrency},
            "hubs": {
                f"h{i}": {
                    "url": f"https://h{i}.example.org",
                    "flow": "generic_oidc",
                    "username_env": "U",
                    "password_env": "P",
                }
                for i in range(hubs)
            },
        }
    )


def test_170_hubs_every_minute_need_170_probes_a_minute() -> None:
    assert needed_per_min(fleet(170)) == 170
    assert round(needed_per_min(fleet(10, "5m")), 6) == 2


def test_the_machine_sustains_the_lesser_of_what_cpus_and_slots_allow() -> None:
    cap = estimate(fleet(170, concurrency=4), wall_s=4.0, cpu_s=2.0, cpus=2)
    assert cap.sustained_per_min == 60  # 2 CPUs / 2 CPU-s a probe = 1 probe/s
    assert not cap.enough
    assert "170 hub(s) need 170 probes/min; this machine sustains about 60" in cap.line()
    assert "not enough" in cap.line() and "interval" in cap.line()
    slots_bound = estimate(fleet(20, concurrency=1), wall_s=6.0, cpu_s=1.0, cpus=8)
    assert slots_bound.sustained_per_min == 10 and slots_bound.measured


def test_a_replica_counts_only_its_share_of_the_hubs() -> None:
    share = {f"h{i}" for i in range(0, 170, 2)}  # 85 of 170
    cap = estimate(fleet(170), wall_s=4.0, cpu_s=2.0, cpus=2, share=share)
    assert (cap.hubs, cap.needed_per_min, cap.enough) == (85, 85, False)
    assert "this replica's 85 of 170 hubs need 85 probes/min" in cap.line()
    assert cap.to_json()["fleet_hubs"] == 170
    # Holding every hub (a lone replica) reads as before.
    whole = estimate(fleet(170), wall_s=4.0, cpu_s=2.0, cpus=2, share={f"h{i}" for i in range(170)})
    assert whole.line().startswith("170 hub(s) need 170 probes/min")


def test_the_meter_shares_the_tree_cpu_among_the_probes_of_the_minute() -> None:
    meter = CostMeter()
    meter.sample_cpu(100.0)
    for _ in range(4):
        meter.probe_finished(5.0)
    meter.sample_cpu(110.0)
    assert meter.cpu_s == 2.5 and meter.wall_s == 5.0
    meter.sample_cpu(111.0)  # no probes since: the average stays
    assert meter.cpu_s == 2.5


def test_the_process_tree_cpu_counts_children_that_ended() -> None:
    before = process_tree_cpu(os.getpid())
    pid = os.fork()
    if pid == 0:  # a child that burns CPU, then ends
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
    assert process_tree_cpu(os.getpid()) - before >= 0.25


def queue_order(waiting: list[tuple[str, float, bool]]) -> list[str]:
    """The order in which `waiting` (name, due, retry) get the one slot, queued behind a probe
    that holds it."""
    order: list[str] = []

    async def scenario() -> None:
        slots = Slots(1)
        gate = asyncio.Event()

        async def probe(name: str, due: float, retry: bool) -> None:
            async with slots.hold(due, retry):
                order.append(name)
                if name == "running":
                    await gate.wait()

        running = asyncio.ensure_future(probe("running", 0.0, False))
        await asyncio.sleep(0)
        queued = [asyncio.ensure_future(probe(*w)) for w in waiting]
        await asyncio.sleep(0)
        assert slots.oldest_due() == min(due for _, due, _ in waiting)
        gate.set()
        await asyncio.gather(running, *queued)

    asyncio.run(scenario())
    return order[1:]


def test_queued_probes_go_retries_first_then_longest_due() -> None:
    assert queue_order([("late", 1.0, False), ("later", 5.0, False), ("retry", 9.0, True)]) == [
        "retry",
        "late",
        "later",
    ]


def test_a_probe_waiting_longer_than_the_retries_head_start_goes_before_them() -> None:
    starved = 100.0 - RETRY_HEAD_START_S - 1
    order = queue_order(
        [("retry1", 100.0, True), ("healthy", starved, False), ("retry2", 101.0, True)]
    )
    assert order == ["healthy", "retry1", "retry2"]


def test_a_waiter_that_gives_up_does_not_keep_a_slot() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        async with slots.hold():
            waiter = asyncio.ensure_future(slots.hold().__aenter__())
            await asyncio.sleep(0)
            waiter.cancel()
        async with slots.hold():
            assert slots.in_use == 1

    asyncio.run(asyncio.wait_for(scenario(), 5))
