"""The generic_oidc flow in real Chromium on the login pages universities really run.

Each page in tests/corpus/pages is our own minimal page reproducing the DOM that matters of a real
one (ids, names, classes, roles, labels, icon glyphs, scripts that render late), written after
reading the public templates. One local server serves them all and records what each form sent;
one browser serves every test. A test passes when the flow sent the test account's username and
password (or the one-time code, or the interstitial's button) in the fields the IdP reads and left
for the hub, or named the page it cannot pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from playwright.async_api import Browser, Request, async_playwright

from loginprobe import flows
from loginprobe.flows import (
    FlowChanged,
    FlowContext,
    FlowError,
    LoginRejected,
    load_flow,
    load_states,
)
from loginprobe.prober.browser import open_browser
from loginprobe.prober.journey import NavLog
from tests.corpus.server import Corpus

pytestmark = pytest.mark.sandbox

USER = "student"
PASSWORD = "pw-corpus-Secret!1"


@dataclass
class Env:
    loop: asyncio.AbstractEventLoop
    corpus: Corpus
    browser: Browser


@dataclass
class Outcome:
    steps: list[str] = field(default_factory=list)
    error: FlowError | None = None
    left: bool = False
    seconds: float = 0.0


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    loop = asyncio.new_event_loop()
    corpus = Corpus()
    loop.run_until_complete(corpus.start())
    pw = loop.run_until_complete(async_playwright().start())
    opened = open_browser(pw)
    browser = loop.run_until_complete(opened.__aenter__())
    try:
        yield Env(loop, corpus, browser)
    finally:
        loop.run_until_complete(opened.__aexit__(None, None, None))
        loop.run_until_complete(pw.stop())
        loop.run_until_complete(corpus.stop())
        loop.close()


async def _login(env: Env, start: str, totp_secret: str | None, element_timeout: float) -> Outcome:
    outcome = Outcome()
    left = asyncio.Event()

    def on_request(request: Request) -> None:
        # As the journey sees it: the browser is on its way back to the hub.
        if request.is_navigation_request() and "/hub/" in request.url:
            left.set()

    context = await env.browser.new_context()
    nav: NavLog | None = None
    try:
        page = await context.new_page()
        page.on("request", on_request)
        # The journey's own word on whether the page is on its way to a new document.
        nav = NavLog(page, time.monotonic)
        ctx = FlowContext(
            username=USER,
            password=PASSWORD,
            begin_step=outcome.steps.append,
            left_idp=left.wait,
            has_left_idp=left.is_set,
            navigating=nav.navigating,
            totp_secret=totp_secret,
            element_timeout=element_timeout,
        )
        await page.goto(f"{env.corpus.url}/idp/{start}/")
        began = time.monotonic()
        try:
            await asyncio.wait_for(load_flow("generic_oidc")(page, ctx), 40)
        except FlowError as err:
            outcome.error = err
        outcome.seconds = time.monotonic() - began
        outcome.left = left.is_set()
    finally:
        if nav is not None:
            nav.detach()
        await context.close()
    return outcome


def login(
    env: Env, start: str, *, totp_secret: str | None = None, element_timeout: float = 8
) -> Outcome:
    env.corpus.posts.clear()
    return env.loop.run_until_complete(_login(env, start, totp_secret, element_timeout))


# page to start on -> {page: the fields it must have sent}
LOGINS = {
    "shibboleth-v4-login": {"shibboleth-v4-login": {"j_username": USER, "j_password": PASSWORD}},
    "shibboleth-v5-login": {"shibboleth-v5-login": {"j_username": USER, "j_password": PASSWORD}},
    "cas-login": {
        "cas-login": {"username": USER, "password": PASSWORD, "_eventId": "submit"},
    },
    "keycloak-login": {"keycloak-login": {"username": USER, "password": PASSWORD}},
    "simplesamlphp-loginuserpass": {
        "simplesamlphp-loginuserpass": {"username": USER, "password": PASSWORD}
    },
    "adfs-login": {"adfs-login": {"UserName": USER, "Password": PASSWORD}},
    "okta-identifier": {
        "okta-identifier": {"identifier": USER},
        "okta-password": {"credentials.passcode": PASSWORD},
    },
    # "action" is the form's own Continue, never the social "Continue with Google" before it.
    "auth0-identifier": {
        "auth0-identifier": {"username": USER, "action": "default"},
        "auth0-password": {"password": PASSWORD, "action": "default"},
    },
    "authentik-flow": {"authentik-flow": {"uidField": USER, "password": PASSWORD}},
    "google-signin": {"google-signin": {"identifier": USER, "Passwd": PASSWORD}},
}


@pytest.mark.parametrize("start", list(LOGINS))
def test_flow_signs_in_on_the_page(env: Env, start: str) -> None:
    outcome = login(env, start)
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.left, "the flow returned without leaving the IdP"
    for page, fields in LOGINS[start].items():
        sent = env.corpus.sent(page)
        assert sent.items() >= fields.items(), f"{page} sent {sorted(sent)}"
        assert "connection" not in sent, "the flow pressed a social login button"
    assert "idp_login" in outcome.steps


def test_keycloak_one_time_code_is_answered_from_the_totp_seed(env: Env) -> None:
    seed = pyotp.random_base32()
    outcome = login(env, "keycloak-otp", totp_secret=seed)
    assert outcome.error is None and outcome.left
    sent = env.corpus.sent("keycloak-otp")
    assert pyotp.TOTP(seed).verify(sent["otp"], valid_window=1)
    assert sent["login"] == "Sign In"
    assert outcome.steps == ["idp_mfa"]


class WindowEndClock:
    """`time` as the flow's TOTP reads it: its first reading is a second before a 30-second
    window ends, so the retry's fresh code (the next window's) is due at once, not up to 30 s on.
    Real time runs on from there; the rest of the module is the real one."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def __init__(self) -> None:
        self.offset: float | None = None
        self.first = 0.0  # the first reading

    def time(self) -> float:
        now = time.time()
        if self.offset is None:
            self.offset = (now // 30 + 1) * 30 - 1.0 - now
            self.first = now + self.offset
        return now + self.offset


def test_a_second_code_on_a_page_that_answers_in_place_is_not_refused_by_the_firsts_error(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The IdP refuses the first code (a probe a moment ago used it) and says so on the page; the
    # flow sends the next window's code, once. While the IdP checks it the first code's error is
    # still on screen: read as the answer, it made the flow refuse a login the IdP was accepting.
    clock = WindowEndClock()
    monkeypatch.setattr(flows, "time", clock)
    seed = pyotp.random_base32()
    outcome = login(env, "inplace-otp", totp_secret=seed)
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.left, "the flow returned without leaving the IdP"
    codes = [
        form["credentials.passcode"] for page, form in env.corpus.posts if page == "inplace-otp"
    ]
    # This window's code, then the next one's.
    totp = pyotp.TOTP(seed)
    assert codes == [totp.at(clock.first), totp.at(clock.first + 30)]
    assert outcome.steps == ["idp_mfa", "idp_mfa"]


def _second_code_refused(
    env: Env, monkeypatch: pytest.MonkeyPatch, start: str, element_timeout: float
) -> Outcome:
    """A login on a page that refuses the second code too: refused (LoginRejected), two codes
    sent, the retry's wait shortened by WindowEndClock."""
    monkeypatch.setattr(flows, "time", WindowEndClock())
    outcome = login(env, start, totp_secret=pyotp.random_base32(), element_timeout=element_timeout)
    assert isinstance(outcome.error, LoginRejected), outcome.error
    assert [page for page, _ in env.corpus.posts] == [start] * 2
    return outcome


def test_a_second_code_refused_in_other_words_is_heard_at_once_in_those_words(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same element says something else: the IdP's answer, heard as it comes (well within the
    # element timeout), and its words are what the verdict quotes.
    outcome = _second_code_refused(env, monkeypatch, "inplace-otp-reworded", element_timeout=20)
    assert "This code was used already" in str(outcome.error)
    assert outcome.seconds < 20, outcome.seconds


def test_a_second_code_refused_in_the_same_words_and_place_is_heard_after_the_wait(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first code's error is not the answer, so the same error in the same element is heard
    # only when the flow reads the page after its wait for an answer (the element timeout): the
    # seed is wrong, two codes sent.
    outcome = _second_code_refused(env, monkeypatch, "inplace-otp-refused", element_timeout=4)
    assert "Invalid code. Try again." in str(outcome.error)
    assert "seed" in str(outcome.error)
    assert outcome.seconds >= 4, outcome.seconds  # after the wait, not from the old error


@pytest.mark.parametrize(
    ("start", "button"),
    [
        # A link "here" carrying the Web Flow event, no button at all.
        ("shibboleth-expiring-password", {"_eventId_proceed": "1"}),
        # A button with no type, named _eventId_success, its label in a span.
        ("cas-warn", {"_eventId_success": "Continue"}),
    ],
)
def test_flow_passes_the_interstitial(env: Env, start: str, button: dict[str, str]) -> None:
    outcome = login(env, start)
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.left
    assert env.corpus.sent(start).items() >= button.items()


@pytest.mark.parametrize(
    ("start", "words"),
    [
        ("keycloak-update-password", "demands a new password"),
        ("keycloak-terms", "terms and conditions"),
        ("shibboleth-terms-of-use", "terms of use"),
    ],
)
def test_flow_names_the_page_only_a_person_can_pass(env: Env, start: str, words: str) -> None:
    outcome = login(env, start)
    assert isinstance(outcome.error, LoginRejected), outcome.error
    assert words in str(outcome.error)
    assert not outcome.left
    assert env.corpus.posts == [], "the flow answered a page meant for a person"


def test_unreadable_page_is_reported_in_seconds_with_what_was_on_it(env: Env) -> None:
    outcome = login(env, "unreadable", element_timeout=20)
    assert isinstance(outcome.error, FlowChanged), outcome.error
    # Once the page has settled, not after the 20 s element timeout.
    assert outcome.seconds < 12, outcome.seconds
    seen = "\n".join(outcome.error.seen)
    assert "text #kennung name=kennung 'kennung'" in seen
    assert "submit 'weiter'" in seen and "-> no known word" in seen
    assert "'mit passkey anmelden'" not in seen  # the button's own text names it
    assert "button 'passkey'" in seen
    assert "looked for submit: 'sign in'" in seen
    assert env.corpus.posts == []


@pytest.mark.parametrize("start", ["slow-next-field-late", "slow-next"])
def test_a_next_step_fetched_after_the_press_is_waited_for(env: Env, start: str) -> None:
    """The page's "Next" hides the step and fetches the next one for 4 s, with nothing on
    screen but "One moment". The page has gone network-idle before the press
    (`slow-next-field-late`) or while the click waited for its button (`slow-next`), and no
    watch was on: nobody saw the fetch start, and the page must not be called settled before its
    next document (`Activity.before_press`). Without that, the flow called it settled after
    SETTLE_S and could not read it."""
    outcome = login(env, start, element_timeout=20)
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.left
    sent = env.corpus.sent(start)
    assert sent["loginfmt"] == USER and sent["passwd"] == PASSWORD


def test_a_form_rendered_after_a_config_fetched_as_the_page_loads_is_waited_for(env: Env) -> None:
    """The config fetch started before the flow's first look, so no watch saw it start; the
    driver's "networkidle", which has not fired while it is in flight, keeps the page unsettled."""
    outcome = login(env, "late-config", element_timeout=20)
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.left
    assert env.corpus.sent("late-config") == {"username": USER, "password": PASSWORD}


def test_the_load_states_the_settle_watch_relies_on_are_read_from_playwright(env: Env) -> None:
    """`loginprobe.flows.load_states` reads what Playwright keeps privately: an upgrade that
    moves it fails here, not quietly (the settle watch would then watch every request again).
    "networkidle" waits for a fetch the page started as it loaded, and fires once it is over."""

    async def states_while_loading() -> tuple[frozenset[str] | None, frozenset[str] | None]:
        context = await env.browser.new_context()
        try:
            page = await context.new_page()
            await page.goto(f"{env.corpus.url}/idp/late-config/")
            loading = load_states(page)
            await page.get_by_role("button", name="Sign in").wait_for(timeout=15_000)
            await page.wait_for_load_state("networkidle", timeout=15_000)
            return loading, load_states(page)
        finally:
            await context.close()

    loading, idle = env.loop.run_until_complete(states_while_loading())
    assert loading is not None and {"domcontentloaded", "load"} <= loading
    assert "networkidle" not in loading, "networkidle fired with the config fetch in flight"
    assert idle is not None and "networkidle" in idle


def test_consent_button_enabled_late_is_pressed_once_it_can_be(env: Env) -> None:
    outcome = login(env, "github-authorize")
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.left
    assert env.corpus.sent("github-authorize")["authorize"] == "1"
    assert outcome.steps == ["idp_consent"]


def test_consent_button_never_enabled_is_named_not_waited_out(env: Env) -> None:
    outcome = login(env, "github-authorize-held", element_timeout=3)
    assert isinstance(outcome.error, LoginRejected), outcome.error
    assert "consent button never became clickable" in str(outcome.error)
    assert not outcome.left
    assert env.corpus.posts == [], "the flow sent the consent form another way"


def test_consent_pressed_at_once_waits_for_a_slow_hub_not_the_element_timeout(env: Env) -> None:
    """A click waits for the navigation it starts, here the hub's 4 s callback: longer than the
    element timeout, and still no reason to blame the test account."""
    outcome = login(env, "github-authorize-slow-hub", element_timeout=2)
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.left
    assert env.corpus.sent("github-authorize-slow-hub")["authorize"] == "1"
