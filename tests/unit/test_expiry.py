"""Declared secret expiry: which warning, when, how loud, and when it resolves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from loginprobe.model import Severity
from loginprobe.monitor.tracks.expiry import expiry_key, expiry_notice, step_expiry, tls_notice
from loginprobe.monitor.tracks.track import Track

EXPIRES = date(2027, 9, 1)
MIDNIGHT = datetime(2027, 9, 1, tzinfo=UTC)


def at(days_before: float) -> datetime:
    return MIDNIGHT - timedelta(days=days_before)


@pytest.mark.parametrize(
    ("days_before", "stage", "severity"),
    [
        (45, None, None),
        (30.5, None, None),
        (30, 30, Severity.WARNING),
        (20, 30, Severity.WARNING),
        (14, 14, Severity.WARNING),
        (8, 14, Severity.WARNING),
        (7, 7, Severity.ERROR),
        (2, 7, Severity.ERROR),
        (0.5, 1, Severity.ERROR),
        (-1, 0, Severity.ERROR),
    ],
)
def test_stage_and_severity_by_days_left(
    days_before: float, stage: int | None, severity: Severity | None
) -> None:
    notice = expiry_notice("hub", EXPIRES, at(days_before))
    if stage is None:
        assert notice is None
        return
    assert notice is not None
    assert (notice.stage, notice.severity) == (stage, severity)
    assert notice.summary.startswith("hub: ")


def test_summary_says_when_and_what_to_do() -> None:
    notice = expiry_notice("utoronto", EXPIRES, at(13.2))
    assert notice is not None
    assert "expires in 13 days (on 2027-09-01)" in notice.summary
    assert "rotate it" in notice.summary and "secret_expires" in notice.summary


def test_past_the_date_with_the_secret_still_accepted_says_the_config_date_is_wrong() -> None:
    notice = expiry_notice("hub", EXPIRES, at(-3), secret_accepted=True)
    assert notice is not None
    assert notice.severity is Severity.WARNING
    assert "the date in the config is wrong" in notice.summary


def test_past_the_date_without_a_passing_check_says_it_expired() -> None:
    for accepted in (False, None):
        notice = expiry_notice("hub", EXPIRES, at(-3), secret_accepted=accepted)
        assert notice is not None and "expired on 2027-09-01" in notice.summary


def test_custom_lead_times() -> None:
    assert expiry_notice("hub", EXPIRES, at(20), lead_days=(10, 3)) is None
    notice = expiry_notice("hub", EXPIRES, at(9), lead_days=(10, 3))
    assert notice is not None and notice.stage == 10


def test_each_lead_time_pages_once_escalates_and_resolves_on_rotation() -> None:
    """A probe every 6 hours for 40 days before the date: one trigger per stage, nothing else."""
    key, track, pages = expiry_key("hub"), Track(), []
    t = at(40)
    while t < at(0.1):
        notice = expiry_notice("hub", EXPIRES, t, secret_accepted=True)
        track, actions = step_expiry(track, notice, key, t.isoformat())
        pages += [
            (a.kind, notice.stage if notice else None, notice.severity if notice else None)
            for a in actions
        ]
        t += timedelta(hours=6)
    assert pages == [
        ("trigger", 30, Severity.WARNING),
        ("trigger", 14, Severity.WARNING),
        ("trigger", 7, Severity.ERROR),
        ("trigger", 1, Severity.ERROR),
    ]
    # The secret is rotated and the config says 2029: out of the window, the incident resolves.
    rotated = expiry_notice("hub", date(2029, 9, 1), t)
    track, actions = step_expiry(track, rotated, key, t.isoformat())
    assert [(a.kind, a.dedup_key) for a in actions] == [("resolve", "loginprobe/hub/expiry")]
    assert not track.is_open
    track, actions = step_expiry(track, rotated, key, t.isoformat())
    assert actions == []


def test_no_warning_and_no_incident_outside_the_window() -> None:
    track, actions = step_expiry(Track(), expiry_notice("hub", EXPIRES, at(31)), "k", "now")
    assert (track, actions) == (Track(), [])


def test_tls_notice_stages_like_secrets_and_names_the_host() -> None:
    not_after = datetime(2027, 3, 1, 12, tzinfo=UTC)
    assert tls_notice("hub", "hub.example.org", not_after, not_after - timedelta(days=40)) is None
    notice = tls_notice("hub", "hub.example.org", not_after, not_after - timedelta(days=10))
    assert notice is not None
    assert (notice.stage, notice.severity, notice.code) == (14, Severity.WARNING, "tls_expiring:14")
    assert "the TLS certificate of hub.example.org expires in 10 days" in notice.summary
    late = tls_notice("hub", "hub.example.org", not_after, not_after + timedelta(hours=1))
    assert late is not None and late.stage == 0 and "has expired" in late.summary
