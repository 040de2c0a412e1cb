"""status: where each hub stands, from history rows, tracks and expiry dates (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from loginprobe.monitor.tracks.prober import PROBER_KEY
from loginprobe.monitor.tracks.track import Thresholds, Track
from loginprobe.web.status import (
    estimate_next_probe,
    hub_status,
    relative,
    status_document,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
T = Thresholds(failures_to_alert=2, successes_to_resolve=2)


def row(code: str = "ok", started_at: str = "2026-11-26T11:59:00+00:00") -> dict[str, object]:
    return {
        "code": code,
        "severity": "info" if code == "ok" else "critical",
        "summary": f"h: {code}",
        "step": None if code == "ok" else "oauth_callback",
        "started_at": started_at,
        "duration_ms": 1500,
        "steps": [{"name": "hub_start", "status": "ok", "http_status": 200, "ms": 240}],
        "evidence": None,
    }


def test_relative_times_read_like_a_person_says_them() -> None:
    assert relative(NOW - timedelta(seconds=42), NOW) == "42s ago"
    assert relative(NOW + timedelta(seconds=12), NOW) == "in 12s"
    assert relative(NOW - timedelta(minutes=5), NOW) == "5m ago"
    assert relative(NOW - timedelta(hours=3), NOW) == "3h ago"
    assert relative(NOW - timedelta(hours=2, minutes=30), NOW) == "2.5h ago"
    assert relative(NOW + timedelta(days=3), NOW) == "in 3d"
    assert relative(NOW, NOW) == "now"
    assert relative(None, NOW) == "—"


def test_next_probe_is_one_interval_after_a_settled_probe_started() -> None:
    nxt = estimate_next_probe("2026-11-26T11:59:00+00:00", Track(successes=5), T, 60, 20)
    assert nxt == datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def test_next_probe_comes_after_the_retry_delay_while_failing_or_an_incident_is_open() -> None:
    failing = Track(failures=1)
    recovering = Track(successes=1, open_code="hub_error", opened_at="x")
    for track in (failing, recovering):
        nxt = estimate_next_probe("2026-11-26T11:59:00+00:00", track, T, 60, 20)
        assert nxt == datetime(2026, 11, 26, 11, 59, 20, tzinfo=UTC)
    assert estimate_next_probe(None, failing, T, 60, 20) is None


def test_hub_status_shows_the_newest_verdict_its_incidents_and_expiry_days() -> None:
    tracks = {
        "loginprobe/h/login": Track(2, 0, "hub_error", "2026-11-26T11:58:00+00:00"),
        "loginprobe/h/tls": Track(open_code="tls_expiring", opened_at="2026-11-20T00:00:00+00:00"),
        "loginprobe/h/expiry": Track(),  # resolved: not shown
        "loginprobe/hh/login": Track(1, 0, "timeout", "x"),  # another hub with a longer name
        PROBER_KEY: Track(2, 0, "probe_error", "y"),
    }
    recent = [row("hub_error", "2026-11-26T11:59:00+00:00"), row("ok", "2026-11-26T11:58:00+00:00")]
    s = hub_status(
        "h",
        url="https://hub.example.org",
        recent=recent,
        since="2026-11-26T11:59:00+00:00",
        tracks=tracks,
        now=NOW,
        next_probe_at=NOW + timedelta(seconds=20),
        last_failure=recent[0],
        secret_expires=date(2026, 12, 6),
        certificates={"hub.example.org": NOW + timedelta(days=40, hours=1)},
    )
    assert s["verdict"] == {
        "code": "hub_error",
        "severity": "critical",
        "summary": "h: hub_error",
        "step": "oauth_callback",
    }
    assert s["last_probe_at"] == "2026-11-26T11:59:00+00:00"
    assert s["next_probe_at"] == "2026-11-26T12:00:20+00:00"
    assert [(i["concern"], i["code"]) for i in s["incidents"]] == [
        ("login", "hub_error"),
        ("tls", "tls_expiring"),
    ]
    assert s["secret_expiry"] == {"date": "2026-12-06", "days_left": 10, "source": "config"}
    assert s["certificates"] == [
        {"host": "hub.example.org", "expires_at": "2027-01-05T13:00:00+00:00", "days_left": 40}
    ]
    assert s["recent"] == recent


def test_a_hub_never_probed_has_no_verdict_and_no_times() -> None:
    s = hub_status("h", url="https://x", recent=[], since=None, tracks={}, now=NOW)
    assert (s["verdict"], s["last_probe_at"], s["next_probe_at"]) == (None, None, None)
    assert (s["incidents"], s["secret_expiry"], s["certificates"]) == ([], None, [])


def test_the_document_names_failing_hubs_and_the_prober_incident() -> None:
    tracks = {PROBER_KEY: Track(2, 0, "probe_error", "2026-11-26T11:00:00+00:00")}
    hubs = [
        hub_status("a", url="https://a", recent=[row("ok")], since=None, tracks={}, now=NOW),
        hub_status("b", url="https://b", recent=[row("timeout")], since=None, tracks={}, now=NOW),
        hub_status("c", url="https://c", recent=[], since=None, tracks={}, now=NOW),
    ]
    doc = status_document(hubs, now=NOW, tracks=tracks, health={"status": "ok", "problems": []})
    assert doc["failing"] == ["b"]
    assert doc["incidents_open"] == [PROBER_KEY]
    assert doc["prober_incident"] is not None
    assert doc["prober_incident"]["code"] == "probe_error"
    assert doc["generated_at"] == "2026-11-26T12:00:00+00:00"
    assert doc["counts"] == {"failing": 1, "warning": 0, "waiting": 1, "healthy": 1}


def test_where_a_hub_stands_outage_first_then_anything_a_person_should_look_at() -> None:
    def stands(
        code: str | None,
        severity: str = "critical",
        tracks: dict[str, Track] | None = None,
        secret_expires: date | None = None,
        certificates: dict[str, datetime] | None = None,
    ) -> str:
        r = row(code) if code else None
        if r:
            r["severity"] = severity
        s = hub_status(
            "h",
            url="https://h",
            recent=[r] if r else [],
            since=None,
            tracks=tracks or {},
            now=NOW,
            secret_expires=secret_expires,
            certificates=certificates,
        )
        return str(s["attention"])

    assert stands("hub_unreachable") == "failing"
    assert stands("login_rejected", "warning") == "warning"  # the test account, not the hub
    assert stands("probe_error", "error") == "warning"  # the prober, not the hub
    assert stands("ok", "info") == "healthy"
    assert stands(None) == "waiting"
    open_expiry = {"loginprobe/h/expiry/14d": Track(open_code="secret_expiring", opened_at="x")}
    assert stands("ok", "info", tracks=open_expiry) == "warning"
    assert stands("ok", "info", secret_expires=date(2026, 12, 26)) == "warning"
    assert stands("ok", "info", secret_expires=date(2026, 12, 27)) == "healthy"
    cert = {"hub.example.org": NOW + timedelta(days=30, hours=1)}
    assert stands("ok", "info", certificates=cert) == "warning"
