"""Silences and maintenance windows (pure): which are in force, and parsing what people type."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loginprobe.monitor.silences import (
    Silence,
    WeeklyWindow,
    active,
    parse_until,
    parse_window,
    silenced_until,
)

SUN_0230 = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("Sun 02:00-03:00 UTC", WeeklyWindow(6, 120, 60)),
        ("monday 9:30-10:00", WeeklyWindow(0, 570, 30)),
        ("Sat 23:00-01:00 UTC", WeeklyWindow(5, 1380, 120)),
    ],
)
def test_maintenance_windows_parse(text: str, window: WeeklyWindow) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize(
    "text", ["Sun 02:00", "Funday 02:00-03:00", "Sun 25:00-26:00", "Sun 02:00-02:00"]
)
def test_a_bad_maintenance_window_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="maintenance window"):
        parse_window(text)


@pytest.mark.parametrize(
    ("window", "at", "inside"),
    [
        ("Sun 02:00-03:00 UTC", SUN_0230, True),
        ("Sun 02:00-03:00 UTC", SUN_0230.replace(hour=3), False),
        ("Sat 23:00-03:00 UTC", SUN_0230, True),  # crosses midnight into Sunday
        ("Sun 23:00-01:00 UTC", datetime(2026, 11, 30, 0, 30, tzinfo=UTC), True),  # into Monday
        ("Mon 02:00-03:00 UTC", SUN_0230, False),
    ],
)
def test_a_weekly_window_is_in_force_only_inside_it(
    window: str, at: datetime, inside: bool
) -> None:
    got = active([], {"a": [parse_window(window)]}, at.timestamp())
    assert ("a" in got) is inside


def test_the_latest_end_wins_where_silences_overlap_and_past_ones_do_not_count() -> None:
    now = SUN_0230.timestamp()
    silences = [
        Silence("a", now - 60, now + 600, "deploy"),
        Silence("a", now - 60, now + 1200, "longer deploy"),
        Silence("b", now - 600, now - 1, "over"),
        Silence("c", now + 60, now + 600, "later"),
    ]
    assert active(silences, {"a": [parse_window("Sun 02:00-02:45")]}, now) == {"a": now + 1200}


def test_a_groups_silence_covers_only_idp_side_pages() -> None:
    silenced = {"idp:cilogon": 100.0}
    assert silenced_until(silenced, "a", "cilogon", idp_side=True) == 100.0
    assert silenced_until(silenced, "a", "cilogon", idp_side=False) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T04:00Z", datetime(2026, 11, 29, 4, 0, tzinfo=UTC)),
        ("2026-11-29T04:00", datetime(2026, 11, 29, 4, 0, tzinfo=UTC)),
        ("04:00", datetime(2026, 11, 29, 4, 0, tzinfo=UTC)),
        ("01:00", datetime(2026, 11, 30, 1, 0, tzinfo=UTC)),  # the next one to come
    ],
)
def test_until_takes_an_iso_time_or_the_next_hh_mm_utc(text: str, expected: datetime) -> None:
    assert parse_until(text, SUN_0230.timestamp()) == expected.timestamp()


def test_a_bad_until_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="invalid time 'tomorrow'"):
        parse_until("tomorrow", 0)
