"""incidents: the pure state machine that turns runs of verdicts into PagerDuty triggers/resolves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from loginprobe.model import Code, Severity, Verdict
from loginprobe.monitor.tracks.login import advance_login, login_key, settled
from loginprobe.monitor.tracks.prober import PROBER_KEY, advance_prober
from loginprobe.monitor.tracks.track import Action, Thresholds, Track
from loginprobe.prober.classify import SEVERITY

HUB = "utoronto"
KEY = login_key(HUB)
NOW = "2025-01-01T00:00:00+00:00"
LATER = "2025-01-01T00:05:00+00:00"
T = Thresholds(failures_to_alert=2, successes_to_resolve=2)


def verdict(code: Code) -> Verdict:
    if code is Code.OK:
        return Verdict(code=code, severity=Severity.INFO, summary=f"{HUB}: logged in")
    return Verdict(
        code=code,
        severity=SEVERITY.get(code, Severity.CRITICAL),
        summary=f"{HUB}: {code} (evidence)",
        step="callback",
        evidence={"http_status": 500},
    )


OK = verdict(Code.OK)
CALLBACK = verdict(Code.CALLBACK_ERROR)
EXPIRED = verdict(Code.CLIENT_SECRET_EXPIRED)
PROBE_ERROR = verdict(Code.PROBE_ERROR)


def run(
    codes: Sequence[Code], t: Thresholds = T, track: Track | None = None
) -> tuple[Track, list[Action]]:
    """Feed verdicts with the given codes through advance_login; the final track and all actions."""
    track = track or Track()
    actions: list[Action] = []
    for code in codes:
        track, new = advance_login(track, verdict(code), KEY, t, NOW)
        actions += new
    return track, actions


# -- the login track ---------------------------------------------------------------------------


def test_login_key_names_hub_and_concern() -> None:
    assert login_key("utoronto") == "loginprobe/utoronto/login"


def test_first_failure_opens_nothing() -> None:
    track, actions = advance_login(Track(), CALLBACK, KEY, T, NOW)
    assert actions == []
    assert track.failures == 1
    assert not track.is_open


def test_second_consecutive_failure_triggers_once() -> None:
    track, _ = advance_login(Track(), CALLBACK, KEY, T, NOW)
    track, actions = advance_login(track, CALLBACK, KEY, T, LATER)
    assert len(actions) == 1
    action = actions[0]
    assert action.kind == "trigger"
    assert action.dedup_key == "loginprobe/utoronto/login"
    assert action.reason == "opened"
    assert action.verdict == CALLBACK
    assert track.is_open
    assert track.open_code == "callback_error"
    assert track.opened_at == LATER
    assert track.failures == 2


def test_further_identical_failures_send_nothing_more() -> None:
    track, actions = run([Code.CALLBACK_ERROR] * 2)
    assert len(actions) == 1
    for _ in range(5):
        track, more = advance_login(track, CALLBACK, KEY, T, LATER)
        assert more == []
    assert track.is_open
    assert track.open_code == "callback_error"
    assert track.opened_at == NOW  # the incident keeps the time it opened
    assert track.failures == 7


def test_a_changed_cause_waits_for_confirmation_like_a_first_failure() -> None:
    t = Thresholds(failures_to_alert=3, successes_to_resolve=2)
    track, _ = run([Code.CALLBACK_ERROR] * 3, t)
    for _ in range(2):
        track, actions = advance_login(track, verdict(Code.HUB_ERROR), KEY, t, LATER)
        assert actions == [] and track.open_code == "callback_error"
    track, actions = advance_login(track, verdict(Code.HUB_ERROR), KEY, t, LATER)
    assert [(a.kind, a.reason) for a in actions] == [("trigger", "changed")]
    assert track.open_code == "hub_error" and track.new_cause_seen == 0


def test_a_warning_escalates_once_other_failures_confirm_whatever_their_mix() -> None:
    track, actions = run([Code.LOGIN_REJECTED] * 2)
    assert [a.dedup_key for a in actions] == [f"{KEY}/warning"]
    track, actions = advance_login(track, verdict(Code.HUB_UNREACHABLE), KEY, T, LATER)
    assert actions == []  # one blip during a warning wakes nobody
    track, actions = advance_login(track, verdict(Code.TIMEOUT), KEY, T, LATER)
    assert [(a.kind, a.dedup_key, a.reason) for a in actions] == [
        ("trigger", KEY, "escalated"),
        ("resolve", f"{KEY}/warning", "superseded"),
    ]
    assert actions[0].verdict is not None and actions[0].verdict.code is Code.TIMEOUT
    assert track.open_code == "timeout" and track.open_key == KEY


def test_an_outage_that_became_a_warning_twice_in_a_row_moves_to_the_warning_key() -> None:
    _, actions = run([Code.HUB_UNREACHABLE] * 2 + [Code.FLOW_CHANGED] * 2)
    assert [(a.kind, a.dedup_key, a.reason) for a in actions] == [
        ("trigger", KEY, "opened"),
        ("trigger", f"{KEY}/warning", "escalated"),
        ("resolve", KEY, "superseded"),
    ]


def test_another_warning_then_one_outage_probe_does_not_escalate_a_warning() -> None:
    track, _ = run([Code.FLOW_CHANGED] * 2)
    for code in (Code.LOGIN_REJECTED, Code.TIMEOUT):
        track, actions = advance_login(track, verdict(code), KEY, T, LATER)
        assert actions == []
    track, actions = advance_login(track, verdict(Code.TIMEOUT), KEY, T, LATER)
    assert [(a.kind, a.reason) for a in actions] == [
        ("trigger", "escalated"),
        ("resolve", "superseded"),
    ]


def test_a_person_asking_to_page_changes_the_cause_at_once() -> None:
    track, _ = run([Code.CALLBACK_ERROR] * 2)
    track, actions = advance_login(track, verdict(Code.HUB_ERROR), KEY, T, LATER, confirmed=True)
    assert [(a.kind, a.reason) for a in actions] == [("trigger", "changed")]


def test_changed_failing_code_updates_the_same_incident() -> None:
    track, _ = run([Code.CALLBACK_ERROR] * 2)
    track, actions = advance_login(track, EXPIRED, KEY, T, LATER)
    assert actions == [Action("trigger", KEY, EXPIRED, reason="changed")]
    assert track.open_code == "client_secret_expired"
    assert track.opened_at == NOW
    # and the new code, repeated, is quiet again
    track, actions = advance_login(track, EXPIRED, KEY, T, LATER)
    assert actions == []


def test_one_ok_while_open_does_not_resolve() -> None:
    track, _ = run([Code.CALLBACK_ERROR] * 2)
    track, actions = advance_login(track, OK, KEY, T, LATER)
    assert actions == []
    assert track.is_open
    assert track.failures == 0
    assert track.successes == 1


def test_second_consecutive_ok_resolves_and_clears_the_incident() -> None:
    track, _ = run([Code.CALLBACK_ERROR] * 2 + [Code.OK])
    track, actions = advance_login(track, OK, KEY, T, LATER)
    assert actions == [Action("resolve", KEY, reason="recovered")]
    assert actions[0].verdict is None
    assert not track.is_open
    assert track.open_code is None
    assert track.opened_at is None
    assert track.failures == 0


def test_failure_between_oks_restarts_recovery_count() -> None:
    track, actions = run([Code.CALLBACK_ERROR] * 2 + [Code.OK, Code.CALLBACK_ERROR, Code.OK])
    assert [a.kind for a in actions] == ["trigger"]
    assert track.is_open
    assert track.successes == 1


def test_alternating_ok_and_failure_never_opens() -> None:
    track, actions = run([Code.CALLBACK_ERROR, Code.OK] * 10)
    assert actions == []
    assert not track.is_open


def test_single_transient_failure_pages_nobody() -> None:
    track, actions = run([Code.OK, Code.HUB_UNREACHABLE, Code.OK, Code.OK])
    assert actions == []
    assert track == Track(failures=0, successes=2)


def test_failures_to_alert_one_triggers_on_first_failure() -> None:
    t = Thresholds(failures_to_alert=1, successes_to_resolve=1)
    track, actions = advance_login(Track(), CALLBACK, KEY, t, NOW)
    assert actions == [Action("trigger", KEY, CALLBACK, reason="opened")]
    track, actions = advance_login(track, OK, KEY, t, NOW)
    assert actions == [Action("resolve", KEY, reason="recovered")]


def test_different_failing_codes_count_together_towards_opening() -> None:
    track, actions = run([Code.CALLBACK_ERROR, Code.HUB_ERROR])
    assert [(a.kind, a.reason) for a in actions] == [("trigger", "opened")]
    assert track.open_code == "hub_error"


@pytest.mark.parametrize(
    "track",
    [
        Track(),
        Track(failures=1),
        Track(failures=3, open_code="callback_error", opened_at=NOW),
        Track(successes=1, open_code="callback_error", opened_at=NOW),
        Track(successes=5),
    ],
    ids=["fresh", "one-failure", "open", "recovering", "healthy"],
)
def test_probe_error_leaves_login_track_unchanged_and_silent(track: Track) -> None:
    after, actions = advance_login(track, PROBE_ERROR, KEY, T, LATER)
    assert actions == []
    assert after == track
    assert after is track


# -- a table of traces -------------------------------------------------------------------------

F = Code.CALLBACK_ERROR
X = Code.CLIENT_SECRET_EXPIRED
H = Code.HUB_ERROR
U = Code.HUB_UNREACHABLE
TO = Code.TIMEOUT
W = Code.FLOW_CHANGED
P = Code.PROBE_ERROR
O = Code.OK  # noqa: E741


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param([O, O, O], [], id="all-ok"),
        pytest.param([F], [], id="one-failure"),
        pytest.param([F, F], [("trigger", "opened")], id="two-failures"),
        pytest.param([F, F, F, F], [("trigger", "opened")], id="many-failures"),
        pytest.param([F, O, F, O, F], [], id="flapping"),
        pytest.param(
            [F, F, O, O], [("trigger", "opened"), ("resolve", "recovered")], id="open-recover"
        ),
        pytest.param([F, F, O], [("trigger", "opened")], id="half-recovered"),
        pytest.param(
            [F, F, X, X, O, O],
            [("trigger", "opened"), ("trigger", "changed"), ("resolve", "recovered")],
            id="changed-then-recover",
        ),
        pytest.param(
            [F, F, X, F, F],
            [("trigger", "opened"), ("trigger", "changed"), ("trigger", "changed")],
            id="changed-back",
        ),
        # An expired secret renewed between one probe's failed callback and its secret check: that
        # probe says callback_error ("the hub runs another secret"). Once is no new cause.
        pytest.param(
            [X, F, O, O], [("trigger", "opened"), ("resolve", "recovered")], id="fix-races-a-probe"
        ),
        pytest.param(
            [F, F, X, F, X, F], [("trigger", "opened"), ("trigger", "changed")], id="x-f-x"
        ),
        pytest.param(
            [F, F, H, P, H], [("trigger", "opened"), ("trigger", "changed")], id="p-inside-a-change"
        ),
        pytest.param([F, F, H, O, H, F], [("trigger", "opened")], id="ok-breaks-a-change"),
        pytest.param([F, F, H, F, H], [("trigger", "opened")], id="the-open-cause-breaks-a-change"),
        # A hub that is down, one odd page among its failures: the outage stays an outage.
        pytest.param([U, U, TO, W], [("trigger", "opened")], id="one-warning-in-an-outage"),
        pytest.param(  # the outage's cause changes (to timeout), and it stays an outage
            [U, U, TO, W, TO, W],
            [("trigger", "opened"), ("trigger", "changed")],
            id="outage-warning-flapping",
        ),
        # A hub down answers one way, then another: together they confirm, and the latest is sent.
        pytest.param(
            [F, F, H, U], [("trigger", "opened"), ("trigger", "changed")], id="a-mix-confirms"
        ),
        pytest.param([F, P, F], [("trigger", "opened")], id="probe-error-does-not-break-run"),
        pytest.param([P, P, P, P], [], id="probe-errors-say-nothing-about-hub"),
        pytest.param(
            [F, F, O, P, O], [("trigger", "opened"), ("resolve", "recovered")], id="p-in-recovery"
        ),
        pytest.param(
            [F, F, O, O, F, F],
            [("trigger", "opened"), ("resolve", "recovered"), ("trigger", "opened")],
            id="reopens",
        ),
        pytest.param(
            [F, F, O, O, F, O], [("trigger", "opened"), ("resolve", "recovered")], id="blip-after"
        ),
    ],
)
def test_trace_of_codes_gives_exact_actions(
    codes: list[Code], expected: list[tuple[str, str]]
) -> None:
    _, actions = run(codes)
    assert [(a.kind, a.reason) for a in actions] == expected
    assert all(a.dedup_key == KEY for a in actions)


# -- the prober's own track --------------------------------------------------------------------


def test_prober_opens_after_failures_to_alert_probe_errors() -> None:
    track, actions = advance_prober(Track(), PROBE_ERROR, PROBER_KEY, T, NOW)
    assert actions == []
    assert track.failures == 1
    track, actions = advance_prober(track, PROBE_ERROR, PROBER_KEY, T, LATER)
    assert actions == [Action("trigger", PROBER_KEY, PROBE_ERROR, reason="opened")]
    assert PROBER_KEY == "loginprobe/prober"
    assert track.open_code == "probe_error"
    assert track.opened_at == LATER
    track, actions = advance_prober(track, PROBE_ERROR, PROBER_KEY, T, LATER)
    assert actions == []
    assert track.is_open


@pytest.mark.parametrize("code", [Code.OK, Code.CALLBACK_ERROR, Code.HUB_UNREACHABLE])
def test_prober_resolves_after_successes_to_resolve_working_verdicts(code: Code) -> None:
    track, _ = advance_prober(Track(), PROBE_ERROR, PROBER_KEY, T, NOW)
    track, _ = advance_prober(track, PROBE_ERROR, PROBER_KEY, T, NOW)
    assert track.is_open
    track, actions = advance_prober(track, verdict(code), PROBER_KEY, T, LATER)
    assert actions == []
    assert track.is_open
    track, actions = advance_prober(track, verdict(code), PROBER_KEY, T, LATER)
    assert actions == [Action("resolve", PROBER_KEY, reason="recovered")]
    assert not track.is_open


def test_prober_single_probe_error_between_working_runs_pages_nobody() -> None:
    track = Track()
    actions: list[Action] = []
    for code in [Code.OK, Code.PROBE_ERROR, Code.CALLBACK_ERROR, Code.PROBE_ERROR, Code.OK]:
        track, new = advance_prober(track, verdict(code), PROBER_KEY, T, NOW)
        actions += new
    assert actions == []
    assert not track.is_open


def test_hub_failures_never_open_the_prober_track() -> None:
    track = Track()
    for _ in range(5):
        track, actions = advance_prober(track, CALLBACK, PROBER_KEY, T, NOW)
        assert actions == []
    assert not track.is_open


# -- settled -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("track", "expected"),
    [
        pytest.param(Track(), True, id="fresh"),
        pytest.param(Track(successes=4), True, id="healthy"),
        pytest.param(Track(failures=1), False, id="one-failure-unconfirmed"),
        pytest.param(Track(failures=3, open_code="callback_error"), False, id="open-failing"),
        pytest.param(Track(successes=1, open_code="callback_error"), False, id="half-recovered"),
        pytest.param(Track(successes=2, open_code="callback_error"), True, id="recovery-complete"),
    ],
)
def test_settled_only_when_healthy_without_doubts(track: Track, expected: bool) -> None:
    assert settled(track, T) is expected


def test_settled_after_a_full_open_and_recover_cycle() -> None:
    track, _ = run([F, F])
    assert not settled(track, T)
    track, _ = run([O], track=track)
    assert not settled(track, T)
    track, _ = run([O], track=track)
    assert settled(track, T)


# -- persistence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "track",
    [
        Track(),
        Track(failures=3, successes=0, open_code="client_secret_expired", opened_at=NOW),
        Track(successes=7),
        Track(failures=4, open_code="hub_error", opened_at=NOW, open_key=KEY, new_cause_seen=1),
    ],
)
def test_track_json_round_trips(track: Track) -> None:
    assert Track.from_json(track.to_json()) == track


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({}, Track(), id="empty"),
        pytest.param({"failures": 2}, Track(failures=2), id="only-failures"),
        pytest.param(
            {"open_code": "callback_error"}, Track(open_code="callback_error"), id="only-open"
        ),
        pytest.param({"failures": None, "successes": None}, Track(), id="nulls"),
        pytest.param({"failures": "3"}, Track(failures=3), id="stringly-number"),
        pytest.param({"new_cause_seen": "2"}, Track(new_cause_seen=2), id="new-cause-seen"),
    ],
)
def test_track_from_json_tolerates_missing_keys(data: dict[str, Any], expected: Track) -> None:
    assert Track.from_json(data) == expected


def test_track_to_json_has_every_field() -> None:
    track = Track(failures=1, successes=2, open_code="x", opened_at=NOW, open_key="k/warning")
    assert track.to_json() == {
        "failures": 1,
        "successes": 2,
        "open_code": "x",
        "opened_at": NOW,
        "open_key": "k/warning",
    }


def test_a_track_stored_before_keys_could_escalate_is_open_on_its_own_key() -> None:
    stored = {"failures": 2, "successes": 0, "open_code": "hub_error", "opened_at": NOW}
    assert Track.from_json(stored, KEY).open_key == KEY
    assert Track.from_json({"failures": 1}, KEY).open_key is None


@pytest.mark.parametrize("code", [Code.CLIENT_SECRET_EXPIRED, Code.CLIENT_SECRET_INVALID])
def test_a_cause_proven_twice_in_one_probe_pages_at_first_sight(code: Code) -> None:
    # The callback failed AND the token endpoint rejects the secret: no blip explains both.
    track, actions = advance_login(Track(), verdict(code), "k", Thresholds(3, 2), "now")
    assert [(a.kind, a.reason) for a in actions] == [("trigger", "opened")]
    assert track.open_code == str(code)


def test_an_unconfirmed_callback_error_still_waits_for_confirmation() -> None:
    track, actions = advance_login(
        Track(), verdict(Code.CALLBACK_ERROR), "k", Thresholds(2, 2), "now"
    )
    assert actions == [] and not track.is_open
