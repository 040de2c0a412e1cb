"""The password never enters a browser that records a trace: the stand-in a flow types, and the request body that
leaves with the real password in its place."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from urllib.parse import parse_qs

import pytest

from loginprobe.prober.standin import PasswordStandIn, stand_in_for, swap

PASSWORD = 'p&ss w"rd/é+9'


def test_the_stand_in_is_random_hex_of_the_passwords_length() -> None:
    a, b = stand_in_for(PASSWORD), stand_in_for(PASSWORD)
    assert len(a) == len(PASSWORD) and re.fullmatch(r"[0-9a-f]+", a)
    assert a != b


def test_a_form_body_gets_the_password_form_encoded() -> None:
    fake = stand_in_for(PASSWORD)
    body = f"user=student&pw={fake}".encode()
    new = swap(body, "application/x-www-form-urlencoded", fake, PASSWORD)
    assert new is not None
    assert parse_qs(new.decode())["pw"] == [PASSWORD]


def test_a_json_body_gets_the_password_json_escaped() -> None:
    fake = stand_in_for(PASSWORD)
    body = json.dumps({"username": "student", "password": fake}).encode()
    new = swap(body, "application/json; charset=utf-8", fake, PASSWORD)
    assert new is not None
    assert json.loads(new)["password"] == PASSWORD


def test_a_body_without_the_stand_in_is_left_alone() -> None:
    assert swap(b"q=search", "application/x-www-form-urlencoded", "abcdef12", PASSWORD) is None


@pytest.mark.parametrize("shown", [repr, str])
def test_the_stand_in_object_never_shows_the_password(shown: object) -> None:
    assert PASSWORD not in shown(PasswordStandIn(PASSWORD))  # type: ignore[operator]


# -- the rewrite and the watch, with a fake DevTools session and fake requests -------------------
class FakeSession:
    """Answers `Fetch.continueRequest` as Playwright's CDP session does (`send` through an
    internal call); `fail` makes the next rewrite's answer fail."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[dict[str, object]] = []
        self.methods: list[str] = []  # every call, in order
        self.fail = fail
        self.listeners: dict[str, object] = {}
        self.holds: dict[str, asyncio.Event] = {}  # a request's continue waits for its own

    async def _wrap_api_call(self, call: object, options: object) -> object:
        return await call(None)  # type: ignore[operator]

    def on(self, event: str, handler: object) -> None:
        self.listeners[event] = handler

    async def send(self, method: str, params: dict[str, object], timeout: float) -> None:
        assert timeout == 0
        if method != "Fetch.continueRequest":
            assert method in ("Fetch.enable", "Fetch.disable"), method
            self.methods.append(method)
            return
        if (late := self.holds.get(str(params["requestId"]))) is not None:
            await late.wait()
        if self.fail is not None and "postData" in params:
            err, self.fail = self.fail, None
            raise err
        self.sent.append(params)
        self.methods.append(method)


class FakeContext:
    """A browser context's Playwright object: opens the DevTools session of a page."""

    def __init__(self, session: FakeSession) -> None:
        self.session, self.opened = session, 0

    async def _wrap_api_call(self, call: object, options: object) -> object:
        return await call(None)  # type: ignore[operator]

    async def new_cdp_session(self, page: object) -> FakeSession:
        self.opened += 1
        return self.session


class FakePage:
    def __init__(self, session: FakeSession) -> None:
        self._impl_obj = object()
        self.context = type("Context", (), {"_impl_obj": FakeContext(session)})()


class FakeRequest:
    def __init__(self, url: str, body: bytes | None, redirected_from: FakeRequest | None = None):
        self.method = "POST" if body is not None else "GET"
        self.url = url
        self.post_data_buffer = body
        self.redirected_from = redirected_from


LOGIN = "https://idp.example.org/login"
FORM = "application/x-www-form-urlencoded"


def paused(body: bytes) -> dict[str, object]:
    """Chromium's Fetch.requestPaused for a form POST of `body` to LOGIN."""
    entries = [{"bytes": base64.b64encode(body).decode()}]
    request = {"url": LOGIN, "method": "POST", "headers": {"Content-Type": FORM}}
    return {"requestId": "r1", "request": {**request, "postDataEntries": entries}}


def answer(stand_in: PasswordStandIn, session: FakeSession, event: dict[str, object]) -> None:
    asyncio.run(stand_in._answer(session, event))


def test_a_login_post_goes_out_with_the_password_and_is_not_astray() -> None:
    s, session = PasswordStandIn(PASSWORD), FakeSession()
    body = f"user=student&pw={s.value}".encode()
    s._saw(FakeRequest(LOGIN + "#top", body))  # type: ignore[arg-type]
    answer(s, session, paused(body))
    (sent,) = session.sent
    assert sent["requestId"] == "r1"
    assert parse_qs(base64.b64decode(str(sent["postData"])).decode())["pw"] == [PASSWORD]
    assert s.astray() is None


def test_a_307_hop_carries_the_rewritten_body_on() -> None:
    s, session = PasswordStandIn(PASSWORD), FakeSession()
    body = f"pw={s.value}".encode()
    first = FakeRequest(LOGIN, body)
    s._saw(first)  # type: ignore[arg-type]
    answer(s, session, paused(body))
    s._saw(FakeRequest("https://idp.example.org/login2", body, first))  # type: ignore[arg-type]
    assert s.astray() is None


def test_a_popup_sending_the_same_form_again_is_astray() -> None:
    s, session = PasswordStandIn(PASSWORD), FakeSession()
    body = f"pw={s.value}".encode()
    s._saw(FakeRequest(LOGIN, body))  # type: ignore[arg-type]
    answer(s, session, paused(body))
    s._saw(FakeRequest(LOGIN, body))  # type: ignore[arg-type] # the popup's, never paused here
    astray = s.astray()
    assert astray is not None and not astray.in_url and astray.url == LOGIN


def test_a_get_form_with_the_stand_in_in_its_url_is_astray() -> None:
    s = PasswordStandIn(PASSWORD)
    s._saw(FakeRequest(f"{LOGIN}?pw={s.value}", None))  # type: ignore[arg-type]
    astray = s.astray()
    assert astray is not None and astray.in_url and astray.method == "GET"


def test_a_failed_rewrite_sends_the_request_on_unchanged_and_says_so_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = PasswordStandIn(PASSWORD)
    session = FakeSession(fail=RuntimeError(f"protocol error with {PASSWORD}"))
    body = f"pw={s.value}".encode()
    s._saw(FakeRequest(LOGIN, body))  # type: ignore[arg-type]
    answer(s, session, paused(body))
    assert session.sent == [{"requestId": "r1"}]  # not left stopped
    assert s.astray() is not None
    out = capsys.readouterr()
    assert "rewrite failed" in out.out + out.err
    assert PASSWORD not in out.out + out.err


def test_a_body_with_a_part_it_cannot_read_is_not_rewritten() -> None:
    s, session = PasswordStandIn(PASSWORD), FakeSession()
    event = paused(f"pw={s.value}".encode())
    event["request"]["postDataEntries"].append({})  # type: ignore[index] # a file's part
    answer(s, session, event)
    assert session.sent == [{"requestId": "r1"}]


# -- when the interception is on ------------------------------------------------------------------
def test_a_pause_arriving_while_disarming_is_answered_before_the_interception_goes() -> None:
    """Chromium lets a request stopped but not answered go on as it is when the interception is
    switched off: every one stopped by then is answered first, rewritten, however late it came
    (the login POST being rewritten as the callback answers goes out with the password)."""
    session = FakeSession()
    page, s = FakePage(session), PasswordStandIn(PASSWORD)
    body = f"pw={s.value}".encode()

    async def go() -> None:
        await s.arm(page)  # type: ignore[arg-type]
        session.holds["r1"] = asyncio.Event()
        s._paused(session, paused(body))
        disarming = asyncio.ensure_future(s.disarm())
        await asyncio.sleep(0)
        session.holds["r2"] = asyncio.Event()
        s._paused(session, {**paused(body), "requestId": "r2"})  # stopped meanwhile
        session.holds["r1"].set()
        for _ in range(5):  # r1 answered; the disarm goes on only once r2 is
            await asyncio.sleep(0)
        assert "Fetch.disable" not in session.methods
        session.holds["r2"].set()
        await disarming

    asyncio.run(go())
    assert session.methods[-1] == "Fetch.disable"
    assert sorted(str(p["requestId"]) for p in session.sent) == ["r1", "r2"]
    for sent in session.sent:
        assert parse_qs(base64.b64decode(str(sent["postData"])).decode())["pw"] == [PASSWORD]


def test_arming_twice_opens_one_session_and_enables_once() -> None:
    session = FakeSession()
    page, s = FakePage(session), PasswordStandIn(PASSWORD)

    async def go() -> None:
        await s.arm(page)  # type: ignore[arg-type]
        await s.arm(page)  # type: ignore[arg-type]

    asyncio.run(go())
    assert page.context._impl_obj.opened == 1
    assert session.methods == ["Fetch.enable"]
    assert "Fetch.requestPaused" in session.listeners


def test_disarming_what_was_never_armed_sends_nothing_and_arming_again_enables_again() -> None:
    session = FakeSession()
    page, s = FakePage(session), PasswordStandIn(PASSWORD)

    async def go() -> None:
        await s.disarm()
        await s.arm(page)  # type: ignore[arg-type]
        await s.disarm()
        await s.arm(page)  # type: ignore[arg-type]

    asyncio.run(go())
    assert session.methods == ["Fetch.enable", "Fetch.disable", "Fetch.enable"]
    assert page.context._impl_obj.opened == 1
