"""The hub page's pictures and what they are drawn from: the incident replay, login times in
buckets, and the SVG, whose marks must carry (and sit at) the numbers they were given."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from loginprobe.history.availability import HOUR_S, Availability
from loginprobe.history.incidents import Timeline, replay
from loginprobe.history.login_times import login_times
from loginprobe.monitor.tracks.track import Thresholds
from loginprobe.web import charts, hub_page

T0 = 1_780_000_000.0 - 1_780_000_000 % 86400  # midnight UTC
TWO_TWO = Thresholds(failures_to_alert=2, successes_to_resolve=2)


def probes(codes: str, start: float = T0, every: float = 60.0) -> list[dict[str, Any]]:
    """One probe per letter: o ok, d hub_error, x client_secret_expired, e probe_error,
    w login_rejected; each took 1.5 s."""
    names = {
        "o": "ok",
        "d": "hub_error",
        "x": "client_secret_expired",
        "e": "probe_error",
        "w": "login_rejected",
    }
    return [
        {"started_at": start + i * every, "code": names[c], "duration_ms": 1500, "steps": []}
        for i, c in enumerate(codes)
    ]


def summary(timeline: Timeline) -> list[tuple[Any, ...]]:
    return [
        (
            (i.started_at - T0) / 60,
            None if i.ended_at is None else (i.ended_at - T0) / 60,
            i.time_to_page_s,
            i.codes,
            i.severity,
        )
        for i in timeline.incidents
    ]


@pytest.mark.parametrize(
    ("codes", "incidents", "blips"),
    [
        ("oooo", [], 0),
        # one failure is a blip: no page
        ("odooo", [], 1),
        # two in a row page at the second (ended 1.5 s after it started); the first ok ends it
        ("oddooo", [(1.0, 3.0, 61.5, ["hub_error"], "critical")], 0),
        # an ok between two failures resets the count
        ("odododd", [(5.0, None, 61.5, ["hub_error"], "critical")], 2),
        # a cause proven twice in one probe pages at once
        ("oxoo", [(1.0, 2.0, 1.5, ["client_secret_expired"], "critical")], 0),
        # probe_error is no evidence either way: it neither pages nor resolves
        ("odedoeo", [(1.0, 4.0, 121.5, ["hub_error"], "critical")], 0),
        # a better explanation within the incident is the same incident
        ("oddxxoo", [(1.0, 5.0, 61.5, ["hub_error", "client_secret_expired"], "critical")], 0),
        # a warning turning into an outage: one incident, now critical
        ("owwddoo", [(1.0, 5.0, 61.5, ["login_rejected", "hub_error"], "critical")], 0),
        # one ok is not enough to resolve (successes_to_resolve = 2): the outage goes on
        ("oddoddoo", [(1.0, 6.0, 61.5, ["hub_error"], "critical")], 0),
    ],
)
def test_incidents_are_replayed_with_the_login_tracks_own_rules(
    codes: str, incidents: list[tuple[Any, ...]], blips: int
) -> None:
    timeline = replay(probes(codes), TWO_TWO)
    assert summary(timeline) == incidents
    assert timeline.blips == blips


def test_login_times_count_only_healthy_probes_and_find_the_slowest_step() -> None:
    rows = []
    for i in range(8):  # two probes per 15-minute bucket for the first hour
        t = T0 + i * 450
        rows.append(
            {
                "started_at": t,
                "code": "ok",
                "duration_ms": 1000 + 100 * i,
                "steps": [("hub_start", 200), ("idp_login", 700 + 100 * i), ("hub", 100)],
            }
        )
    rows.append({"started_at": T0 + 10, "code": "hub_error", "duration_ms": 45000, "steps": []})
    lt = login_times(rows, T0, T0 + 86400, 96)
    assert lt.slowest_step == "idp_login"
    assert [b.median_ms for b in lt.buckets[:4]] == [1050, 1250, 1450, 1650]
    assert [b.slowest_ms for b in lt.buckets[:4]] == [750, 950, 1150, 1350]
    assert all(b.median_ms is None for b in lt.buckets[4:])
    assert (lt.median_ms, lt.slowest_median_ms) == (1350, 1050)


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _ms_of(y: float, top: float) -> float:
    return (charts.LT_BOTTOM - y) / (charts.LT_BOTTOM - charts.LT_TOP) * top


def test_the_login_line_and_its_shading_sit_at_the_bucket_medians() -> None:
    rows = [
        {
            "started_at": T0 + i * 3600 + 60,
            "code": "ok",
            "duration_ms": ms,
            "steps": [("hub", ms - slow), ("idp_login", slow)],
        }
        for i, (ms, slow) in enumerate([(1200, 900), (1800, 1400), (3100, 2600)])
    ] + [  # a gap of two hours, then one more
        {
            "started_at": T0 + 5 * 3600 + 60,
            "code": "ok",
            "duration_ms": 900,
            "steps": [("hub", 400), ("idp_login", 500)],
        }
    ]
    lt = login_times(rows, T0, T0 + 24 * 3600, 24)
    svg = _svg(charts.login_chart(lt, "last 24 h"))
    top = float(svg.get("data-max-ms") or 0)
    assert top == 5000  # the nice ceiling above 3.1 s
    assert svg.get("data-slowest-step") == "idp_login"
    lines = svg.findall("{*}polyline") or svg.findall("polyline")
    points = [
        [tuple(map(float, p.split(","))) for p in line.get("points", "").split()] for line in lines
    ]
    # the gap breaks the line in two
    assert [[round(_ms_of(y, top)) for _, y in line] for line in points] == [
        [1200, 1800, 3100],
        [900],
    ]
    band = (svg.findall("polygon") or [None])[0]
    assert band is not None
    edge = [tuple(map(float, p.split(","))) for p in band.get("points", "").split()][:3]
    assert [round(_ms_of(y, top)) for _, y in edge] == [900, 1400, 2600]
    hits = [h for h in svg.findall("rect") if h.get("class") == "lt-bucket"]
    assert [
        (int(h.get("data-ms") or 0), int(h.get("data-slowest-ms") or 0))
        for h in hits
        if h.get("class") == "lt-bucket"
    ] == [
        (1200, 900),
        (1800, 1400),
        (3100, 2600),
        (900, 500),
    ]
    assert "login 1.2 s (median of 1), idp_login 900 ms" in (hits[0].findtext("title") or "")


def test_the_strip_colours_each_hour_by_its_worst_verdict_up_to_now() -> None:
    now = T0 + 13.5 * HOUR_S  # today 13:30
    base = int(T0 // HOUR_S)
    hours = [
        {"hour": base + 10, "worst": "ok", "up_s": 3600, "down_s": 0, "prober_s": 0, "probes": 60},
        {
            "hour": base + 11,
            "worst": "hub_error",
            "up_s": 3000,
            "down_s": 600,
            "prober_s": 0,
            "probes": 70,
        },
        {
            "hour": base + 12,
            "worst": "probe_error",
            "up_s": 3540,
            "down_s": 0,
            "prober_s": 60,
            "probes": 60,
        },
        {
            "hour": base + 13,
            "worst": "login_rejected",
            "up_s": 0,
            "down_s": 1800,
            "prober_s": 0,
            "probes": 30,
        },
        # no probe started in this hour, but the one before spoke for 5 minutes of it
        {"hour": base - 1, "worst": None, "up_s": 300, "down_s": 0, "prober_s": 0, "probes": 0},
    ]
    svg = _svg(charts.strip(hours, now))
    cells = {c.get("data-hour"): c for c in svg.findall("rect")}
    assert len(cells) == 6 * 24 + 14  # six whole days and today up to 13:00
    day = charts.utc(T0, "%Y-%m-%d")
    got = {
        h: (cells[f"{day} {h}:00"].get("class"), cells[f"{day} {h}:00"].get("data-probes"))
        for h in ("10", "11", "12", "13")
    }
    assert got == {
        "10": ("cell ok", "60"),
        "11": ("cell down", "70"),
        "12": ("cell prober", "60"),
        "13": ("cell warning", "30"),
    }
    assert cells[f"{day} 09:00"].get("class") == "cell none"
    assert cells[charts.utc(T0 - HOUR_S)].get("class") == "cell ok"
    assert "down 10m" in (cells[f"{day} 11:00"].findtext("title") or "")


def test_each_incident_bar_spans_its_outage_and_the_tick_marks_the_page() -> None:
    start, end = T0, T0 + 7 * 86400
    timeline = replay(probes("o" * 10 + "dd" + "o" * 100 + "xo", start=T0 + 86400), TWO_TWO)
    svg = _svg(charts.timeline(timeline.incidents, start, end))
    bars = [r for r in svg.findall("rect") if "incident-bar" in (r.get("class") or "")]
    assert [b.get("data-cause") for b in bars] == ["hub_error", "client_secret_expired"]
    scale = (charts.TL_RIGHT - charts.TL_LEFT) / (end - start)
    first = bars[0]
    assert float(first.get("x") or 0) == pytest.approx(
        charts.TL_LEFT + (86400 + 600) * scale, abs=0.01
    )
    # 2 minutes on a week's axis is under 2 units: drawn 2 wide, its numbers still exact
    assert float(first.get("data-end") or 0) - float(first.get("data-start") or 0) == 120
    assert first.get("data-time-to-page") == "61.5"
    assert bars[1].get("data-time-to-page") == "1.5"
    assert "paged after 62s" in (first.findtext("title") or "")


def test_the_hub_page_escapes_names_and_shows_availability_and_each_incident() -> None:
    now = T0 + 86400
    rows = probes("o" * 30 + "ddd" + "o" * 20, start=now - 3600)
    view = hub_page.HubView(
        hub="<b>hub</b>",
        url="https://hub.example.org",
        now=now,
        verdict={"code": "ok", "summary": "logged in <fine>"},
        availability={"24h": Availability(3420, 180, 0, 0, 86400), "7d": Availability(window_s=1)},
        day=login_times(rows, now - 86400, now, 96),
        week=login_times(rows, now - 7 * 86400, now, 168),
        hours=[],
        incidents=replay(rows, TWO_TWO),
        incidents_from=now - 7 * 86400,
    )
    html = hub_page.render(view)
    assert "<b>hub</b>" not in html and "&lt;b&gt;hub&lt;/b&gt;" in html
    assert "logged in &lt;fine&gt;" in html
    assert re.search(
        r'data-window="24h" data-availability="0\.95"><b class="low">95\.00%</b>', html
    )
    assert 'data-window="7d" data-availability=""><b>—</b>' in html
    assert "<script" not in html and html.count("<svg") == 4
    assert "Incidents, last 7 days: 1" in html
    assert "lasted 3m, paged after 62s" in html
