"""One page per root cause (pure): an IdP failing for a group of hubs, the prober's own network,
silences; and the hubs' own pages held back and released."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from loginprobe.model import Code
from loginprobe.monitor.pipeline import Context, HubGone, ProbeFact, react
from loginprobe.monitor.tracks.shared import NETWORK_KEY, Fleet, covered_by, held_key, is_held
from loginprobe.monitor.tracks.track import Action, Thresholds, Track
from tests.unit.fakes import verdict_result

T0 = datetime(2026, 11, 30, 5, 25, tzinfo=UTC)
IDP = "loginprobe/idp/cilogon/login"


def fleet(groups: Mapping[str, str], **kw: object) -> Fleet:
    hosts = {h: f"{h}.example.org" for h in groups}
    return Fleet(groups=dict(groups), hosts=hosts, **kw)  # type: ignore[arg-type]


CILOGON5 = fleet({h: "cilogon" for h in "abcde"})


@dataclass
class Run:
    """Facts fed one after another, `step_s` apart, through the real pipeline's react()."""

    fleet: Fleet
    tracks: dict[str, Track] = field(default_factory=dict)
    now: datetime = T0
    sent: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def feed(
        self,
        *facts: tuple[str, Code] | tuple[str, Code, str],
        step_s: float = 5,
        took_s: float = 4,
    ) -> list[str]:
        """`took_s`: each probe began that long before its verdict came."""
        out = []
        for f in facts:
            hub, code = f[0], f[1]
            result = verdict_result(hub, code)
            began = self.now - timedelta(seconds=took_s)
            result = replace(result, started_at=began.isoformat())
            if len(f) == 3:  # the failing step
                result = replace(result, verdict=replace(result.verdict, step=f[2]))
            ctx = Context(
                thresholds=Thresholds(2, 2),
                now_iso=self.now.isoformat(timespec="seconds"),
                calendar=self.now,
                lead_days=(30, 14, 7, 1),
                secret_expires={},
                fleet=self.fleet,
            )
            moved, actions = react(ProbeFact(result), self.tracks, ctx)
            self.tracks.update(moved)
            self.actions += actions
            out += [f"{a.kind} {a.dedup_key}" for a in actions]
            self.now += timedelta(seconds=step_s)
        self.sent += out
        return out

    def gone(self, hub: str) -> list[str]:
        ctx = Context(Thresholds(2, 2), self.now.isoformat(), self.now, (30,), {}, self.fleet)
        moved, actions = react(HubGone(hub), self.tracks, ctx)
        self.tracks.update(moved)
        return [f"{a.kind} {a.dedup_key}" for a in actions]


def rounds(hubs: str, code: Code, n: int, step: str | None = None) -> list[tuple[str, Code, str]]:
    return [(h, code, step or "idp_page") for _ in range(n) for h in hubs]


def opened_incidents(sent: list[str]) -> list[str]:
    """The keys triggered, in order, once each (a trigger on an open key notifies nobody)."""
    return list(dict.fromkeys(s.split(" ", 1)[1] for s in sent if s.startswith("trigger")))


def test_an_idp_down_for_five_hubs_is_one_incident_not_five() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 4))
    assert set(opened_incidents(run.sent)) == {IDP}
    run.feed(*[(h, Code.OK) for h in "abcde"] * 2)
    assert run.sent[-1] == f"resolve {IDP}" and run.sent.count(f"resolve {IDP}") == 1
    assert not any(t.is_open for k, t in run.tracks.items() if not is_held(run.tracks, k))
    assert not any(k.startswith("held:") and t.open_key for k, t in run.tracks.items())


def test_the_group_incident_opens_at_the_third_hubs_first_failure_before_any_own_confirmation() -> (
    None
):
    run = Run(CILOGON5)
    assert run.feed(("a", Code.IDP_UNREACHABLE), ("b", Code.IDP_ERROR)) == []
    assert run.feed(("c", Code.IDP_UNREACHABLE)) == [f"trigger {IDP}"]


def test_the_group_page_names_the_cause_the_hubs_and_since_when() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abc", Code.IDP_UNREACHABLE, 1))
    v = next(a.verdict for a in run.actions if a.dedup_key == IDP)
    assert v is not None
    assert v.summary.startswith("cilogon is failing for 3 hubs: idp_unreachable")
    assert v.summary.endswith("since 05:25 UTC")
    assert v.evidence["failing_hubs"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("code", "step", "idp_side"),
    [
        (Code.IDP_UNREACHABLE, "idp_page", True),
        (Code.IDP_ERROR, "idp_login", True),
        (Code.TIMEOUT, "idp_login", True),
        (Code.TIMEOUT, "hub_start", False),
        (Code.CALLBACK_ERROR, "oauth_callback", False),
        (Code.HUB_ERROR, "hub_login", False),
        (Code.HUB_UNREACHABLE, "hub_start", False),
        (Code.ACCESS_DENIED, "oauth_callback", False),
        (Code.LOGIN_REJECTED, "idp_login", False),
        (Code.CLIENT_SECRET_EXPIRED, "oauth_callback", False),
    ],
)
def test_only_idp_side_verdicts_count_towards_the_group(
    code: Code, step: str, idp_side: bool
) -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abc", code, 1, step))
    assert (f"trigger {IDP}" in run.sent) is idp_side


def test_an_idp_answering_5xx_at_its_own_step_is_idp_side() -> None:
    run = Run(CILOGON5)
    for h in "abc":
        r = verdict_result(h, Code.HUB_ERROR)
        v = replace(r.verdict, step="idp_page", evidence={"http_status": 503})
        run.tracks.update(react(ProbeFact(replace(r, verdict=v)), run.tracks, ctx(run))[0])
    assert run.tracks[IDP].is_open


def ctx(run: Run) -> Context:
    return Context(Thresholds(2, 2), run.now.isoformat(), run.now, (30,), {}, run.fleet)


def test_while_the_group_is_open_idp_side_pages_are_held_and_hub_side_causes_still_page() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 3))
    sent = run.feed(("d", Code.CLIENT_SECRET_EXPIRED, "oauth_callback"))
    assert sent == ["trigger loginprobe/d/login"]
    assert opened_incidents(run.sent) == [IDP, "loginprobe/d/login"]


def test_a_smaller_group_needs_all_its_hubs() -> None:
    run = Run(fleet({"a": "g", "b": "g"}))
    assert run.feed(("a", Code.IDP_UNREACHABLE)) == []
    assert run.feed(("b", Code.IDP_UNREACHABLE)) == ["trigger loginprobe/idp/g/login"]


def test_a_group_of_one_hub_pages_on_its_own() -> None:
    run = Run(fleet({"a": "g", "b": "other"}))
    run.feed(*[("a", Code.IDP_UNREACHABLE)] * 2)
    assert run.sent == ["trigger loginprobe/a/login"]


def test_hubs_of_two_groups_failing_idp_side_open_nothing_shared_below_the_threshold() -> None:
    run = Run(fleet({"a": "g1", "b": "g1", "c": "g1", "x": "g2", "y": "g2", "z": "g2"}))
    run.feed(("a", Code.IDP_ERROR), ("x", Code.IDP_ERROR), ("b", Code.IDP_ERROR))
    assert run.sent == []


def test_a_failure_older_than_the_confirm_window_no_longer_counts() -> None:
    run = Run(replace(CILOGON5, window_s=30))
    run.feed(("a", Code.IDP_ERROR), step_s=60)
    run.feed(("b", Code.IDP_ERROR), ("c", Code.IDP_ERROR))
    assert f"trigger {IDP}" not in run.sent


def test_a_hub_that_paged_just_before_the_group_opened_is_resolved_into_it() -> None:
    run = Run(CILOGON5)
    run.feed(*[("a", Code.IDP_ERROR)] * 2, ("b", Code.IDP_ERROR))
    assert run.sent == ["trigger loginprobe/a/login"]
    assert run.feed(("c", Code.IDP_ERROR)) == [f"trigger {IDP}", "resolve loginprobe/a/login"]
    assert is_held(run.tracks, "loginprobe/a/login")


def test_after_the_idp_recovers_a_hub_still_failing_pages_on_its_own_once() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_ERROR, 3))
    recovered = run.feed(*[(h, Code.OK) for h in "abcd"] * 2)
    assert recovered == [f"resolve {IDP}"]
    assert run.feed(*[("e", Code.IDP_ERROR)] * 3) == ["trigger loginprobe/e/login"]
    page = next(a.verdict for a in run.actions if a.dedup_key == "loginprobe/e/login")
    assert page is not None and "failing since 05:2" in page.summary
    assert run.feed(*[("e", Code.OK)] * 2) == ["resolve loginprobe/e/login"]


def test_a_probe_that_began_before_the_idp_incident_resolved_does_not_open_it_again() -> None:
    """Replicas: the IdP is back and one replica resolves the group, while probes the other
    started during the outage still finish failing, a second later. They must not page again;
    failures of probes begun after the resolve still open a new incident."""
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_ERROR, 2))
    assert run.feed(*[(h, Code.OK) for h in "abcde"]) == [f"resolve {IDP}"]
    stragglers = run.feed(*[(h, Code.IDP_ERROR) for h in "cde"], step_s=0.3, took_s=60)
    assert stragglers == [], stragglers
    assert not run.tracks[IDP].is_open
    again = run.feed(*rounds("abcde", Code.IDP_ERROR, 1))
    assert f"trigger {IDP}" in again


def test_a_hubs_retry_begun_before_the_idp_incident_resolved_does_not_page_it_alone() -> None:
    """A hub failed once during the IdP outage; its confirming retry began then and ends failing
    after the IdP's incident resolved: no page on that late word. Its next probe decides."""
    run = Run(CILOGON5)
    run.feed(*rounds("abc", Code.IDP_ERROR, 2))
    assert f"trigger {IDP}" in run.sent
    run.feed(("d", Code.IDP_ERROR))
    assert run.feed(*[(h, Code.OK) for h in "abc"] * 2) == [f"resolve {IDP}"]
    assert run.feed(("d", Code.IDP_ERROR), took_s=60) == []
    # d's next probe, begun after the resolve, still fails: now it pages on its own.
    assert run.feed(("d", Code.IDP_ERROR)) == ["trigger loginprobe/d/login"]


def test_a_hub_side_failure_right_after_the_idp_incident_must_confirm_on_its_own() -> None:
    """Seen in CI: c failed twice while its IdP's incident was open, then its probe as the IdP
    came back timed out once at the hub's callback. Three failures in a row, but two were the
    IdP's: the hub's own cause was seen once, and paging it was a second page for one outage."""
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 1))
    assert opened_incidents(run.sent) == [IDP]
    run.feed(("c", Code.IDP_UNREACHABLE))  # c's second failure: the IdP's
    assert run.feed(("c", Code.TIMEOUT, "oauth_callback")) == []
    assert run.feed(*[(h, Code.OK) for h in "abde"] * 2) == [f"resolve {IDP}"]
    assert run.feed(("c", Code.OK)) == []
    assert opened_incidents(run.sent) == [IDP]


def test_a_hub_side_cause_after_the_idp_incident_pages_once_it_confirms() -> None:
    """The same start, but the hub's callback keeps failing: it pages at its own
    failures_to_alert (2 here) counted from the first failure the IdP does not explain."""
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 2))
    assert run.feed(("c", Code.CALLBACK_ERROR, "oauth_callback")) == []
    assert run.feed(("c", Code.CALLBACK_ERROR, "oauth_callback")) == ["trigger loginprobe/c/login"]
    page = next(a.verdict for a in run.actions if a.dedup_key == "loginprobe/c/login")
    assert page is not None and page.code is Code.CALLBACK_ERROR


def test_a_new_cause_on_a_hub_whose_own_page_was_never_held_pages_as_before() -> None:
    """No shared incident explained any failure: failures_to_alert in a row page, whatever mix."""
    run = Run(CILOGON5)
    run.feed(("a", Code.IDP_ERROR))
    assert run.feed(("a", Code.TIMEOUT, "oauth_callback")) == ["trigger loginprobe/a/login"]


def test_a_proven_cause_after_the_idp_incident_still_pages_at_once() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 1))
    assert run.feed(("c", Code.CLIENT_SECRET_EXPIRED, "oauth_callback")) == [
        "trigger loginprobe/c/login"
    ]


def test_the_order_the_idp_incident_formed_in_does_not_matter() -> None:
    """a, b and c fail once each (the group opens at c), then a's callback times out once: the
    failure before the group opened was the IdP's too."""
    run = Run(CILOGON5)
    run.feed(*rounds("abc", Code.IDP_UNREACHABLE, 1))
    assert opened_incidents(run.sent) == [IDP]
    assert run.feed(("a", Code.TIMEOUT, "oauth_callback")) == []
    assert run.feed(("c", Code.TIMEOUT, "oauth_callback")) == []
    assert run.tracks["loginprobe/a/login"].explained == 1


def test_one_success_between_does_not_let_a_single_new_failure_page() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 2))
    run.feed(("c", Code.TIMEOUT, "oauth_callback"), ("c", Code.OK))
    assert run.feed(("c", Code.TIMEOUT, "oauth_callback")) == []
    assert run.feed(("c", Code.TIMEOUT, "oauth_callback"))[-1] == "trigger loginprobe/c/login"


def test_hub_unreachable_after_the_idps_failures_confirms_on_its_own_too() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_ERROR, 1))
    assert run.feed(("c", Code.HUB_UNREACHABLE, "oauth_callback")) == []
    assert run.feed(("c", Code.HUB_UNREACHABLE, "oauth_callback")) == ["trigger loginprobe/c/login"]


def test_a_page_held_by_the_new_cause_rule_says_so_on_the_status_page() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 2))
    run.feed(("c", Code.TIMEOUT, "oauth_callback"))
    assert covered_by("c", run.tracks, run.fleet) == (
        "held back: a new cause right after a shared incident, confirming"
    )


def test_a_better_explanation_of_a_page_already_out_is_sent_so_its_resolve_is_too() -> None:
    """c's own page is out (callback_error) before the IdP's incident; c then fails IdP-side
    while the group is open: the change goes to the open incident, and c's recovery resolves it
    (held, the resolve was dropped and the incident stayed open at PagerDuty for good)."""
    run = Run(CILOGON5)
    assert run.feed(*[("c", Code.CALLBACK_ERROR, "oauth_callback")] * 2) == [
        "trigger loginprobe/c/login"
    ]
    run.feed(*rounds("abd", Code.IDP_ERROR, 1))
    assert f"trigger {IDP}" in run.sent
    assert "trigger loginprobe/c/login" not in run.feed(("c", Code.IDP_ERROR))  # once: unproven
    assert "trigger loginprobe/c/login" in run.feed(("c", Code.IDP_ERROR))
    assert run.feed(*[("c", Code.OK)] * 2) == ["resolve loginprobe/c/login"]


def test_a_held_warning_is_sent_when_the_silence_ends_and_the_hub_still_fails() -> None:
    until = (T0 + timedelta(minutes=2)).timestamp()
    run = Run(fleet({"a": "g"}, silenced={"a": until}))
    run.feed(*[("a", Code.FLOW_CHANGED, "idp_login")] * 3)
    assert run.sent == [] and is_held(run.tracks, "loginprobe/a/login/warning")
    run.fleet = fleet({"a": "g"})  # the silence ended
    assert run.feed(("a", Code.FLOW_CHANGED, "idp_login")) == ["trigger loginprobe/a/login/warning"]


def test_a_held_warning_is_not_sent_with_another_cause_seen_once() -> None:
    """The silence ends; the hub's next probe fails once in another way (a blip): nothing goes
    out, neither the warning with a critical verdict in it nor an outage. When the warning's own
    cause shows again, the warning is sent; when the other cause confirms, it is an outage."""
    until = (T0 + timedelta(minutes=2)).timestamp()
    run = Run(fleet({"a": "g"}, silenced={"a": until}))
    run.feed(*[("a", Code.FLOW_CHANGED, "idp_login")] * 3)
    run.fleet = fleet({"a": "g"})  # the silence ended
    assert run.feed(("a", Code.HUB_ERROR, "hub_start")) == []
    assert run.feed(("a", Code.FLOW_CHANGED, "idp_login")) == ["trigger loginprobe/a/login/warning"]
    assert run.actions[-1].verdict is not None
    assert run.actions[-1].verdict.code is Code.FLOW_CHANGED


def test_a_held_warning_turning_into_a_confirmed_outage_pages_the_outage() -> None:
    until = (T0 + timedelta(minutes=2)).timestamp()
    run = Run(fleet({"a": "g"}, silenced={"a": until}))
    run.feed(*[("a", Code.FLOW_CHANGED, "idp_login")] * 3)
    run.fleet = fleet({"a": "g"})
    assert run.feed(("a", Code.HUB_ERROR, "hub_start")) == []
    # The held warning's resolve is dropped with it: PagerDuty never had it.
    assert run.feed(("a", Code.HUB_ERROR, "hub_start")) == ["trigger loginprobe/a/login"]
    assert not is_held(run.tracks, "loginprobe/a/login/warning")


def test_a_held_warning_is_never_sent_with_an_outage_in_it() -> None:
    """After the silence, two failures of other kinds (another warning, then an outage): the
    cause has confirmed, the move to an outage has not. Nothing goes out on the warning's key
    with a critical verdict; the outage pages once it repeats."""
    until = (T0 + timedelta(minutes=2)).timestamp()
    run = Run(fleet({"a": "g"}, silenced={"a": until}))
    run.feed(*[("a", Code.FLOW_CHANGED, "idp_login")] * 3)
    run.fleet = fleet({"a": "g"})
    assert run.feed(("a", Code.LOGIN_REJECTED, "idp_login")) == []
    assert run.feed(("a", Code.HUB_ERROR, "hub_start")) == []
    assert run.feed(("a", Code.HUB_ERROR, "hub_start")) == ["trigger loginprobe/a/login"]


def test_the_explained_failures_survive_the_store() -> None:
    t = Track(failures=3, explained=2)
    assert Track.from_json(t.to_json()) == t
    assert "explained" not in Track(failures=1).to_json()


def test_a_held_hub_that_recovers_sends_nothing() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_ERROR, 3))
    before = list(run.sent)
    run.feed(*[(h, Code.OK) for h in "abcde"] * 2)
    assert run.sent[len(before) :] == [f"resolve {IDP}"]


def test_a_probe_error_says_nothing_about_the_idp() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_ERROR, 2))
    run.feed(*[(h, Code.PROBE_ERROR) for h in "abcde"] * 3)
    assert f"resolve {IDP}" not in run.sent


def test_removing_a_hub_takes_it_out_of_its_group() -> None:
    run = Run(CILOGON5)
    run.feed(("a", Code.IDP_ERROR), ("b", Code.IDP_ERROR))
    run.gone("a")
    run.feed(("c", Code.IDP_ERROR))
    assert run.sent == []


# -- the prober's own network ----------------------------------------------------------------------
MIXED = fleet({"a": "cilogon", "b": "cilogon", "c": "github", "d": "github", "e": "azure"})


def test_hubs_of_different_groups_all_unreachable_at_once_is_one_incident_about_the_prober() -> (
    None
):
    run = Run(replace(MIXED, location="eu-west"))
    run.feed(
        ("a", Code.IDP_UNREACHABLE),
        ("c", Code.HUB_UNREACHABLE, "hub_start"),
        ("e", Code.IDP_UNREACHABLE),
    )
    assert opened_incidents(run.sent) == [NETWORK_KEY]
    page = run.actions[-1].verdict
    assert page is not None and page.severity == "error" and "at eu-west" in page.summary
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 3))
    assert opened_incidents(run.sent) == [NETWORK_KEY]  # neither groups nor hubs page
    run.feed(*[(h, Code.OK) for h in "abcde"] * 2)
    assert run.sent[-1:] == [f"resolve {NETWORK_KEY}"]
    assert opened_incidents(run.sent) == [NETWORK_KEY]


def test_one_hub_reached_since_the_failures_began_is_not_the_prober_s_network() -> None:
    run = Run(MIXED)
    run.feed(("a", Code.IDP_UNREACHABLE), ("c", Code.OK), ("e", Code.IDP_UNREACHABLE))
    assert NETWORK_KEY not in opened_incidents(run.sent)


def test_one_group_unreachable_is_its_idp_not_the_network() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abc", Code.IDP_UNREACHABLE, 1))
    assert opened_incidents(run.sent) == [IDP]


# -- silences -------------------------------------------------------------------------------------
def test_a_silenced_hub_pages_nobody_and_pages_when_the_silence_ends_still_failing() -> None:
    until = (T0 + timedelta(minutes=2)).timestamp()
    run = Run(fleet({"a": "g"}, silenced={"a": until}))
    run.feed(*[("a", Code.HUB_ERROR, "hub_login")] * 5)
    assert run.sent == []
    assert is_held(run.tracks, "loginprobe/a/login")
    run.fleet = fleet({"a": "g"})  # the silence ended
    sent = run.feed(("a", Code.HUB_ERROR, "hub_login"))
    assert sent == ["trigger loginprobe/a/login"]
    page = run.actions[-1].verdict
    assert page is not None and "failing since 05:25 UTC" in page.summary
    assert not is_held(run.tracks, "loginprobe/a/login")


def test_a_silence_does_not_resolve_an_open_incident() -> None:
    run = Run(fleet({"a": "g"}))
    run.feed(*[("a", Code.HUB_ERROR)] * 2)
    run.fleet = fleet({"a": "g"}, silenced={"a": (T0 + timedelta(hours=1)).timestamp()})
    assert run.feed(*[("a", Code.HUB_ERROR)] * 3) == []
    assert run.feed(*[("a", Code.OK)] * 2) == ["resolve loginprobe/a/login"]


def test_a_hub_recovering_during_its_silence_sends_nothing_at_all() -> None:
    run = Run(fleet({"a": "g"}, silenced={"a": (T0 + timedelta(hours=1)).timestamp()}))
    run.feed(*[("a", Code.HUB_ERROR)] * 3, *[("a", Code.OK)] * 2)
    assert run.sent == []
    assert run.tracks[held_key("loginprobe/a/login")].open_key is None


def test_silencing_a_group_holds_its_incident_but_not_its_hubs_own_causes() -> None:
    until = (T0 + timedelta(hours=1)).timestamp()
    run = Run(replace(CILOGON5, silenced={"idp:cilogon": until}))
    run.feed(*rounds("abcde", Code.IDP_ERROR, 3))
    assert run.sent == []
    assert run.feed(*[("a", Code.CALLBACK_ERROR, "oauth_callback")] * 2) == [
        "trigger loginprobe/a/login"
    ]
    run.fleet = CILOGON5
    assert run.feed(("b", Code.IDP_ERROR)) == [f"trigger {IDP}"]


def test_expiry_warnings_are_never_held() -> None:
    run = Run(fleet({"a": "g"}, silenced={"a": (T0 + timedelta(hours=1)).timestamp()}))
    notice_action = Action("trigger", "loginprobe/a/expiry/7d", None)
    from loginprobe.monitor.tracks.shared import hold

    _, out = hold([notice_action], "a", None, {}, T0.isoformat(), run.fleet)
    assert out == [notice_action]


def test_tracks_with_members_survive_the_store() -> None:
    run = Run(CILOGON5)
    run.feed(*rounds("abc", Code.IDP_ERROR, 1))
    t = run.tracks[IDP]
    assert Track.from_json(t.to_json(), IDP) == t
    assert "members" not in Track().to_json()


# -- what people are shown (status page, /api/status, probe list) -------------------------------
def test_the_status_of_a_covered_hub_names_the_group_and_what_covers_it() -> None:
    from loginprobe.web.status import hub_incidents, hub_status

    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 3))
    status = hub_status(
        "a",
        url="https://a.example.org",
        recent=[],
        since=None,
        tracks=run.tracks,
        now=T0,
        fleet=run.fleet,
    )
    assert status["group"] == "cilogon"
    assert status["covered_by"] == "covered by the cilogon incident"
    incidents = hub_incidents("a", run.tracks, run.fleet)
    assert [(i["key"], i["held"]) for i in incidents] == [
        (IDP, False),
        ("loginprobe/a/login", True),
    ]
    assert incidents[1]["concern"] == "login, covered by the cilogon incident"


def test_a_silenced_hub_shows_until_when() -> None:
    from loginprobe.web.status import hub_status

    until = (T0 + timedelta(minutes=30)).timestamp()
    f = fleet({"a": "g"}, silenced={"a": until})
    status = hub_status("a", url="", recent=[], since=None, tracks={}, now=T0, fleet=f)
    assert status["silenced_until"] == "2026-11-30T05:55:00+00:00"
    assert status["covered_by"] == "silenced until 2026-11-30 05:55 UTC"


def test_held_pages_are_not_listed_as_open_incidents() -> None:
    from loginprobe.web.status import status_document

    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 3))
    doc = status_document([], now=T0, tracks=run.tracks)
    assert doc["incidents_open"] == [IDP]


def test_the_status_page_says_which_incident_covers_a_hub() -> None:
    from loginprobe.web import page
    from loginprobe.web.status import hub_status, status_document

    run = Run(CILOGON5)
    run.feed(*rounds("abcde", Code.IDP_UNREACHABLE, 3))
    hubs = [
        hub_status(h, url="", recent=[], since=None, tracks=run.tracks, now=T0, fleet=run.fleet)
        for h in "ab"
    ]
    html = page.render(status_document(hubs, now=T0, tracks=run.tracks))
    assert "the cilogon IdP, failing for 5 hubs" in html
    assert "login, covered by the cilogon incident" in html
