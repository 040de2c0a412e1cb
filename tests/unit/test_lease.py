"""One holder at a time: the store's lease with expiry and a fencing token, on a real SQLite file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loginprobe.monitor.lease import LeaseKeeper, holder_name
from loginprobe.monitor.tracks.track import Track
from loginprobe.store import Fence, LeaseLost, Store

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/state.sqlite")
    yield s
    s.close()


def test_a_second_holder_waits_until_the_first_lease_expires_then_gets_a_new_token(
    store: Store,
) -> None:
    first = store.leases.acquire("monitor", "first", 30, T0)
    assert first is not None and first.token == 1
    assert store.leases.acquire("monitor", "second", 30, T0 + 29) is None
    renewed = store.leases.acquire("monitor", "first", 30, T0 + 20, token=1)
    assert renewed is not None and renewed.expires_at == T0 + 50
    assert store.leases.acquire("monitor", "second", 30, T0 + 49) is None
    second = store.leases.acquire("monitor", "second", 30, T0 + 51)
    assert second is not None and second.token == 2


def test_a_holder_that_lost_the_lease_can_no_longer_write(store: Store) -> None:
    store.leases.acquire("monitor", "first", 30, T0)
    store.leases.acquire("monitor", "second", 30, T0 + 31)
    with pytest.raises(LeaseLost):
        store.record(None, {"k": Track(failures=9)}, [], T0, "t", Fence("monitor", "first", 1))
    assert store.tracks() == {}
    store.record(None, {"k": Track(failures=1)}, [], T0, "t", Fence("monitor", "second", 2))
    assert store.tracks()["k"].failures == 1


def test_a_clean_stop_hands_the_lease_over_at_once(store: Store) -> None:
    first = LeaseKeeper(store, 30, "first", clock=lambda: T0)
    second = LeaseKeeper(store, 30, "second", clock=lambda: T0 + 1)
    assert first.acquire() and not second.acquire()
    first.release()
    assert second.acquire()


def test_a_keeper_learns_it_lost_the_lease_and_may_no_longer_send(store: Store) -> None:
    now = [T0]
    first = LeaseKeeper(store, 30, "first", clock=lambda: now[0])
    second = LeaseKeeper(store, 30, "second", clock=lambda: now[0])
    assert first.acquire() and first.may_send()
    now[0] += 31  # the first was paused past its lease
    assert second.acquire()
    assert not first.may_send()  # the store names another holder: never page
    assert first.renew() == "lost"
    assert not first.held


def test_renewing_keeps_the_token(store: Store) -> None:
    now = [T0]
    keeper = LeaseKeeper(store, 30, "first", clock=lambda: now[0])
    assert keeper.acquire()
    token = keeper.info.token if keeper.info else None
    now[0] += 10
    assert keeper.renew() == "held"
    assert keeper.info is not None and keeper.info.token == token
    assert keeper.info.expires_at == T0 + 40


def test_a_holder_killed_on_this_machine_is_replaced_without_waiting_out_its_lease(
    store: Store,
) -> None:
    me = holder_name()
    host = me.split(" on ", 1)[1].split(" (", 1)[0]
    proc = subprocess.Popen(["true"])
    proc.wait()  # its pid is free now: the holder is gone
    gone = f"probe serve on {host} (pid {proc.pid}, started 12345, 0123abcd)"
    store.leases.acquire("monitor", gone, 30, T0)
    keeper = LeaseKeeper(store, 30, me, clock=lambda: T0 + 1)
    assert keeper.acquire()
    # Another machine's holder is never presumed dead: it waits out the lease.
    elsewhere = LeaseKeeper(store, 30, "probe serve on other-host (pid 1, started 9, 00ff00ff)")
    elsewhere.clock = lambda: T0 + 2
    assert not elsewhere.acquire()


def test_a_holder_alive_on_this_machine_is_never_presumed_dead(store: Store) -> None:
    first = LeaseKeeper(store, 30, holder_name(), clock=lambda: T0)
    second = LeaseKeeper(store, 30, holder_name(), clock=lambda: T0 + 1)  # same process, even
    assert first.acquire() and not second.acquire()


@pytest.mark.parametrize("returning", [True, False])
def test_renewing_many_leases_keeps_only_those_held_with_their_token(
    store: Store, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one statement where the database says which rows it changed (chunked), else one a
    lease: the same answer either way."""
    monkeypatch.setattr(store.engine.dialect, "update_returning", returning)
    monkeypatch.setattr("loginprobe.store.lease.RENEW_CHUNK", 2)
    held = {}
    for name in ("hub:a", "hub:b", "hub:c", "hub:d", "hub:e"):
        info = store.leases.acquire(name, "me", 30, T0)
        assert info is not None
        held[name] = info.token
    # hub:b expired and was taken by another; hub:c was taken again by this holder (a newer
    # token than the one held); hub:f was never this holder's.
    assert store.leases.acquire("hub:b", "other", 30, T0 + 31) is not None
    assert store.leases.release(store_fence(store, "hub:c")) is None
    retaken = store.leases.acquire("hub:c", "me", 30, T0 + 1)
    assert retaken is not None and retaken.token == held["hub:c"] + 1
    held["hub:f"] = 1
    kept = store.leases.renew_all("me", held, 30, T0 + 20)
    assert kept == {"hub:a", "hub:d", "hub:e"}
    for name in kept:
        lease = store.leases.get(name)
        assert lease is not None and lease.expires_at == T0 + 50
    other = store.leases.get("hub:b")
    assert other is not None and other.holder == "other" and other.expires_at == T0 + 61
    mine = store.leases.get("hub:c")
    assert mine is not None and mine.expires_at == T0 + 31  # its newer token was not renewed


def store_fence(store: Store, name: str) -> Fence:
    lease = store.leases.get(name)
    assert lease is not None
    return Fence(lease.name, lease.holder, lease.token)
