"""Availability: which time counts how, credited per hour, summed per window; and the store's
hourly rollup, written probe by probe, agrees with the same sums made from scratch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loginprobe.history import availability as av
from loginprobe.model import Code
from loginprobe.store import Store
from loginprobe.store.history import rollup
from tests.unit.fakes import timed_result

H = 3600
T0 = 1_780_000_000 - 1_780_000_000 % H  # an hour's start


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ok", av.UP),
        ("probe_error", av.PROBER),
        ("hub_error", av.DOWN),
        ("client_secret_expired", av.DOWN),
        ("login_rejected", av.DOWN),
        ("timeout", av.DOWN),
        ("a_code_from_the_future", av.DOWN),
    ],
)
def test_each_code_counts_as_up_down_or_the_probers_fault(code: str, kind: str) -> None:
    assert av.kind(code) == kind


@pytest.mark.parametrize(
    ("codes", "worst"),
    [
        ([], None),
        ([None], None),
        (["ok", "ok"], "ok"),
        (["ok", "probe_error"], "probe_error"),
        (["probe_error", "login_rejected", "ok"], "login_rejected"),
        (["login_rejected", "hub_error", "flow_changed"], "hub_error"),
        ([None, "ok"], "ok"),
    ],
)
def test_the_worst_verdict_of_an_hour(codes: list[str | None], worst: str | None) -> None:
    assert av.worst(codes) == worst


@pytest.mark.parametrize(
    ("start", "code", "until", "silences", "expected"),
    [
        # 60 s inside one hour
        (T0 + 10, "ok", T0 + 70, [], {T0 // H: {"up": 60.0}}),
        # across an hour's end: split
        (
            T0 + H - 20,
            "hub_error",
            T0 + H + 40,
            [],
            {T0 // H: {"down": 20.0}, T0 // H + 1: {"down": 40.0}},
        ),
        # a gap longer than COVER_S: only COVER_S counts, the rest is no data
        (T0, "ok", T0 + 3 * H, [], {T0 // H: {"up": av.COVER_S}}),
        # the prober's own failure
        (T0, "probe_error", T0 + 30, [], {T0 // H: {"prober": 30.0}}),
        # a silence cuts the middle out
        (
            T0,
            "hub_error",
            T0 + 60,
            [(T0 + 10, T0 + 40)],
            {T0 // H: {"down": 30.0, "silenced": 30.0}},
        ),
        # out of order or zero: nothing
        (T0 + 60, "ok", T0, [], {}),
    ],
)
def test_a_probe_speaks_for_the_time_until_the_next(
    start: float,
    code: str,
    until: float,
    silences: list[av.Span],
    expected: dict[int, dict[str, float]],
) -> None:
    assert av.credit(start, code, until, silences) == expected


def test_a_window_counts_whole_hours_back_and_the_current_hour_so_far() -> None:
    now = T0 + 30 * 60
    hours = {
        T0 // H - 24: {"down": 3600.0},  # 24 h before the current hour: outside 24 h
        T0 // H - 23: {"up": 3000.0, "down": 600.0},
        T0 // H: {"up": 1800.0},
    }
    got = av.summarize(hours, now, 24 * H)
    assert (got.up_s, got.down_s) == (4800.0, 600.0)
    assert got.window_s == 23 * H + 1800
    assert got.ratio == pytest.approx(4800 / 5400)
    assert got.no_data_s == pytest.approx(got.window_s - 5400)


@pytest.mark.parametrize(
    ("up", "down", "prober", "ratio"),
    [
        (100.0, 0.0, 0.0, 1.0),
        (90.0, 10.0, 500.0, 0.9),  # the prober's failures neither help nor hurt
        (0.0, 0.0, 500.0, None),  # only the prober's failures: no verdict on the hub
        (0.0, 0.0, 0.0, None),
    ],
)
def test_availability_is_up_over_up_and_down(
    up: float, down: float, prober: float, ratio: float | None
) -> None:
    assert av.Availability(up, down, prober, 0.0, 1000.0).ratio == ratio


@pytest.mark.parametrize(
    ("ratio", "shown"),
    [(None, "—"), (1.0, "100%"), (0.99999, "99.99%"), (0.9876, "98.76%"), (0.0, "0.00%")],
)
def test_a_percentage_never_rounds_a_down_hub_up_to_100(ratio: float | None, shown: str) -> None:
    assert av.percent(ratio) == shown


# -- the store's rollup ----------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


# Every 60 s for 3 h: an outage of 10 probes (600 s) from 01:00, a probe_error at 02:00, a gap of
# 16 min (one minute beyond COVER_S: no data) from 02:29.
def _probes() -> list[tuple[float, Code]]:
    out = []
    for i in range(180):
        t = T0 + i * 60.0
        if 150 <= i < 180 and i < 165:
            continue  # the gap: no probes 02:30..02:45
        code = Code.HUB_ERROR if 60 <= i < 70 else Code.PROBE_ERROR if i == 120 else Code.OK
        out.append((t, code))
    return out


def test_the_rollup_written_probe_by_probe_holds_each_hours_seconds(store: Store) -> None:
    for t, code in _probes():
        store.record(timed_result("a", code, t), {}, [], t, "x")
    hours = {r["hour"]: r for r in store.hours("a", T0)}
    assert sorted(hours) == [T0 // H, T0 // H + 1, T0 // H + 2]
    assert hours[T0 // H]["up_s"] == pytest.approx(3600.0)
    assert hours[T0 // H + 1]["down_s"] == pytest.approx(600.0)
    assert hours[T0 // H + 1]["up_s"] == pytest.approx(3000.0)
    assert hours[T0 // H + 1]["worst"] == "hub_error"
    assert hours[T0 // H + 2]["prober_s"] == pytest.approx(60.0)
    assert hours[T0 // H + 2]["worst"] == "probe_error"
    # 02:29 speaks until 02:45 capped at COVER_S (15 min): 60 s of the gap are no data; the
    # last probe (02:59) is not credited until the next one.
    assert hours[T0 // H + 2]["up_s"] == pytest.approx(3600.0 - 60.0 - 60.0 - 60.0)
    assert [hours[h]["probes"] for h in sorted(hours)] == [60, 60, 45]


def test_the_rollup_of_a_whole_history_equals_the_one_written_probe_by_probe(
    store: Store,
) -> None:
    for t, code in _probes():
        store.record(timed_result("a", code, t), {}, [], t, "x")
    rebuilt = {r["hour"]: r for r in rollup((1, t, str(code)) for t, code in _probes())}
    for row in store.hours("a", T0):
        again = rebuilt[row["hour"]]
        for key in ("up_s", "down_s", "prober_s", "silenced_s", "probes", "worst"):
            assert row[key] == pytest.approx(again[key]), key


def test_the_fleets_availability_adds_the_latest_probes_span(store: Store) -> None:
    for t, code in _probes():
        store.record(timed_result("a", code, t), {}, [], t, "x")
    store.record(timed_result("b", Code.HUB_ERROR, T0), {}, [], T0, "x")
    now = T0 + 3 * H - 1  # the last probe started at T0 + 3 h - 60 s
    got = store.availability(now)
    a = got["a"]["24h"]
    assert a.down_s == pytest.approx(600.0)
    assert a.prober_s == pytest.approx(60.0)
    assert a.up_s == pytest.approx(3 * H - 600 - 60 - 60 - 60 + 59)
    assert a.no_data_s == pytest.approx(a.window_s - a.up_s - 600 - 60)
    assert a.ratio == pytest.approx(a.up_s / (a.up_s + 600.0))
    # b: one failing probe, 3 h ago: it speaks for COVER_S only
    b = got["b"]["24h"]
    assert (b.up_s, b.down_s, b.ratio) == (0.0, av.COVER_S, 0.0)
    month = got["a"]["30d"]  # nothing older: the same seconds in a longer window
    assert (month.up_s, month.down_s, month.window_s) == (a.up_s, a.down_s, 30 * 24 * H - 1)


def test_pruning_probes_keeps_the_rollup_for_a_year(store: Store) -> None:
    old = T0 - 500 * 86400  # older than ROLLUP_MAX_AGE_S
    month = T0 - 40 * 86400  # older than history_max_age, inside a year
    for t in (old, old + 60, month, month + 60, T0, T0 + 60):
        store.record(timed_result("a", Code.OK, t), {}, [], t, "x")
    assert store.prune(before=T0 - 30 * 86400) == 4
    hours = [r["hour"] for r in store.hours("a", 0)]
    assert hours == [int(month // H), T0 // H]  # the old year's gone, the month's kept
    assert store.availability(T0 + 120)["a"]["30d"].up_s == pytest.approx(120.0)


def test_each_window_sums_only_its_own_hours_and_a_hub_without_any_gets_none(
    store: Store,
) -> None:
    # a: a failing hour 10 days ago, healthy hours 2 days ago; b: only 20 days ago.
    for t, code in (
        (T0 - 10 * 86400, Code.HUB_ERROR),
        (T0 - 10 * 86400 + 60, Code.OK),
        (T0 - 2 * 86400, Code.OK),
        (T0 - 2 * 86400 + 60, Code.OK),
    ):
        store.record(timed_result("a", code, t), {}, [], t, "x")
    for t in (T0 - 20 * 86400, T0 - 20 * 86400 + 60):
        store.record(timed_result("b", Code.OK, t), {}, [], t, "x")
    got = store.availability(T0)
    a, b = got["a"], got["b"]
    # Each probe speaks until the next one starts, at most COVER_S; the latest until now.
    assert (a["24h"].up_s, a["24h"].down_s, a["24h"].ratio) == (0.0, 0.0, None)
    assert (a["7d"].up_s, a["7d"].down_s) == (pytest.approx(60.0 + av.COVER_S), 0.0)
    assert a["30d"].down_s == pytest.approx(60.0)
    assert a["30d"].up_s == pytest.approx(av.COVER_S + 60.0 + av.COVER_S)
    assert (b["7d"].ratio, b["30d"].up_s) == (None, pytest.approx(60.0 + av.COVER_S))
    assert a["30d"].window_s == b["30d"].window_s == 30 * 24 * H - H
