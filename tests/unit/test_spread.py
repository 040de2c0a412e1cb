"""Spreading hubs over replicas (pure): every replica running the plan converges to one holder
per hub, spread within one."""

from __future__ import annotations

from collections import Counter

import pytest

from loginprobe.monitor.spread import plan, quotas

HUBS = [f"hub{i}" for i in range(7)]


def _settle(replicas: list[str], owners: dict[str, str], rounds: int = 10) -> dict[str, str]:
    """Each replica in turn runs the plan and acts on it, as the keepers do every tick."""
    owners = dict(owners)
    for _ in range(rounds):
        before = dict(owners)
        for me in replicas:
            p = plan(me, HUBS, replicas, owners)
            for hub in p.release:
                del owners[hub]
            for hub in p.take:
                owners.setdefault(hub, me)  # the store gives a hub to the first who asks
        if owners == before:
            return owners
    raise AssertionError(f"did not settle: {owners}")


def _counts(replicas: list[str], owners: dict[str, str]) -> list[int]:
    c = Counter(owners.values())
    return sorted(c.get(r, 0) for r in replicas)


def test_quotas_add_up_and_give_the_remainder_to_the_busiest() -> None:
    q = quotas(["a", "b", "c"], {"c": 5}, 7)
    assert q == {"c": 3, "a": 2, "b": 2}
    assert sum(quotas(["a", "b", "c", "d"], {}, 6).values()) == 6


def test_a_lone_replica_takes_every_hub() -> None:
    owners = _settle(["a"], {})
    assert set(owners) == set(HUBS) and set(owners.values()) == {"a"}


@pytest.mark.parametrize("n", [2, 3, 4, 7, 9])
def test_replicas_starting_together_hold_every_hub_once_within_one_of_each_other(n: int) -> None:
    replicas = [f"r{i}" for i in range(n)]
    owners = _settle(replicas, {})
    assert set(owners) == set(HUBS)
    counts = _counts(replicas, owners)
    assert counts[-1] - counts[0] <= 1, counts


def test_a_replica_that_joins_takes_a_share_from_the_others() -> None:
    owners = _settle(["a"], {})
    owners = _settle(["a", "b"], owners)
    assert _counts(["a", "b"], owners) == [3, 4]
    owners = _settle(["a", "b", "c"], owners)
    assert _counts(["a", "b", "c"], owners) == [2, 2, 3]


def test_a_dead_replicas_hubs_are_spread_over_the_rest_once_its_leases_expire() -> None:
    owners = _settle(["a", "b", "c"], {})
    dead = [h for h, r in owners.items() if r == "c"]
    # While its leases run, its hubs stay taken: nobody writes under a fence that may be good.
    assert plan("a", HUBS, ["a", "b"], owners).take == []
    for hub in dead:
        del owners[hub]  # expired
    owners = _settle(["a", "b"], owners)
    assert set(owners) == set(HUBS) and _counts(["a", "b"], owners) == [3, 4]


def test_with_one_hub_a_second_replica_takes_nothing_from_the_holder() -> None:
    assert plan("b", ["x"], ["a", "b"], {"x": "a"}).take == []
    assert plan("a", ["x"], ["a", "b"], {"x": "a"}).release == []
    assert plan("0-first-by-name", ["x"], ["a"], {"x": "a"}).take == []
