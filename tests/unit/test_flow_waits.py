"""How the generic flow waits for the IdP's answer to a press, and the navigation log's word on
whether the page is on its way to a new document: no question to a page that is being left, one
call for both questions on a page that answers in place, and a new page read once it is parsed.
A fake page at the edge (listeners, a pressable locator that counts the calls into the page);
the real flow code and the real NavLog."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from loginprobe.flows import FlowContext, flow_over
from loginprobe.prober.journey import NavLog
from loginprobe.prober.registry import flow_module

# The built-in flows' package, loginprobe.probes, exists once the registry has loaded a flow.
flow_module("generic_oidc")

from loginprobe.probes import _pages, generic_oidc  # noqa: E402


class FakeFrame:
    """A frame whose document is loaded and not yet network-idle, as Playwright's Python side
    knows it (`loginprobe.flows.load_states`): a press on it starts no watch of its requests
    (the settle watch only waits for the next document's DOMContentLoaded)."""

    def __init__(self) -> None:
        self._impl_obj = type(
            "Impl", (), {"_load_states": {"commit", "domcontentloaded", "load"}}
        )()


class FakePage:
    """Listeners by event name, a main frame, and Playwright's impl object whose emit the
    navigation log taps."""

    def __init__(self) -> None:
        self.listeners: dict[str, list[Callable[[Any], None]]] = {}
        self.main_frame = FakeFrame()
        page = self

        class Impl:
            main_frame = page.main_frame

            def emit(self, event: str, *args: Any) -> bool:
                return True

        self._impl_obj = Impl()
        self.context = type("Context", (), {"browser": None})()

    def on(self, event: str, handler: Callable[[Any], None]) -> None:
        self.listeners.setdefault(event, []).append(handler)

    def remove_listener(self, event: str, handler: Callable[[Any], None]) -> None:
        self.listeners[event].remove(handler)

    def fire(self, event: str, arg: Any) -> None:
        for handler in list(self.listeners.get(event, [])):
            handler(arg)


class Count:
    """A count that can be waited on: `await count.reach(n)`."""

    def __init__(self) -> None:
        self.n = 0
        self._moved = asyncio.Event()

    def add(self) -> None:
        self.n += 1
        self._moved.set()
        self._moved = asyncio.Event()

    async def reach(self, n: int) -> None:
        while self.n < n:
            await self._moved.wait()


class Pressable:
    """A button: pressing it works; each question asked of the page is counted and answered
    with `answer` (True: an error shows, or the button is gone)."""

    def __init__(self) -> None:
        self.asked = Count()
        self.answer = False
        self.pressed = asyncio.Event()

    @property
    def first(self) -> Pressable:
        return self

    async def click(self) -> None:
        self.pressed.set()

    async def evaluate_all(self, script: str, arg: Any) -> bool:
        self.asked.add()
        return self.answer


class Nav:
    """What the flow is told of the page's navigation; each question counted (the flows ask it
    at every poll, so `asked` counts their polls)."""

    def __init__(self, navigating: bool = False) -> None:
        self.navigating = navigating
        self.asked = Count()

    def __call__(self) -> bool:
        self.asked.add()
        return self.navigating


def context(nav: Nav | None = None, element_timeout: float = 5.0) -> FlowContext:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def left_idp() -> None:
        await never

    return FlowContext(
        username="u",
        password="p",
        begin_step=lambda name: None,
        left_idp=left_idp,
        has_left_idp=lambda: False,
        navigating=nav or Nav(),
        element_timeout=element_timeout,
    )


def run(scenario: Callable[[], Any]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


def press(page: FakePage, ctx: FlowContext, button: Pressable) -> asyncio.Future[None]:
    return asyncio.ensure_future(generic_oidc._act_and_settle(page, ctx, button))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generic_oidc, "ERROR_POLL", 0.01)
    monkeypatch.setattr(generic_oidc, "POLL", 0.01)
    monkeypatch.setattr(_pages, "POLL", 0.01)
    monkeypatch.setattr(generic_oidc, "PARSE_WAIT_S", 60.0)  # a test that needs it sets it


def test_a_page_on_its_way_to_a_new_document_is_not_asked_and_is_read_once_parsed() -> None:
    async def scenario() -> None:
        page, button, nav = FakePage(), Pressable(), Nav(navigating=True)
        button.answer = True  # were it asked, the flow would take the old page for an answer
        pressing = press(page, context(nav), button)
        await nav.asked.reach(10)
        assert button.asked.n == 0 and not pressing.done()
        nav.navigating = False  # answered, and the new document committed
        page.fire("framenavigated", page.main_frame)
        polls = nav.asked.n
        await nav.asked.reach(polls + 10)
        # Committed, not yet parsed: not read yet, and not asked (its button is not there yet).
        assert not pressing.done() and button.asked.n == 0
        page.fire("domcontentloaded", page)
        await asyncio.wait_for(pressing, 1.0)
        assert button.asked.n == 0
        # Its listeners go with it; the settle watch's (its next document) goes with the flow.
        assert {e for e, h in page.listeners.items() if h} == {"domcontentloaded"}
        flow_over(page)  # type: ignore[arg-type]
        assert not any(page.listeners.values())

    run(scenario)


def test_a_navigation_that_ends_without_a_new_document_has_the_page_asked_again() -> None:
    """A 204, or a navigation that failed: still the same page, which may show an error."""

    async def scenario() -> None:
        page, button, nav = FakePage(), Pressable(), Nav(navigating=True)
        pressing = press(page, context(nav), button)
        await nav.asked.reach(5)
        assert button.asked.n == 0
        nav.navigating = False
        await button.asked.reach(2)
        button.answer = True
        await asyncio.wait_for(pressing, 1.0)

    run(scenario)


def test_a_new_document_that_never_says_it_is_parsed_is_read_after_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A navigation within the document has no document to parse: read after PARSE_WAIT_S."""
    monkeypatch.setattr(generic_oidc, "PARSE_WAIT_S", 0.05)

    async def scenario() -> None:
        page, button = FakePage(), Pressable()
        pressing = press(page, context(Nav(navigating=True)), button)
        await button.pressed.wait()
        page.fire("framenavigated", page.main_frame)
        await asyncio.wait_for(pressing, 1.0)

    run(scenario)


def test_a_subframes_navigation_is_not_the_pages_answer_and_a_cancelled_wait_cleans_up() -> None:
    async def scenario() -> None:
        page, button, nav = FakePage(), Pressable(), Nav(navigating=True)
        pressing = press(page, context(nav), button)
        await button.pressed.wait()
        page.fire("framenavigated", FakeFrame())
        page.fire("domcontentloaded", page)
        await nav.asked.reach(10)
        assert not pressing.done()
        pressing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pressing
        assert {e for e, h in page.listeners.items() if h} == {"domcontentloaded"}
        flow_over(page)  # type: ignore[arg-type]
        assert not any(page.listeners.values())

    run(scenario)


def test_a_page_that_answers_in_place_is_asked_one_call_a_poll_until_it_has() -> None:
    async def scenario() -> None:
        page, button, nav = FakePage(), Pressable(), Nav()
        pressing = press(page, context(nav), button)
        await button.asked.reach(3)
        assert not pressing.done()
        button.answer = True  # an inline error shows, or the button went
        await asyncio.wait_for(pressing, 1.0)
        assert button.asked.n == nav.asked.n  # one call into the page a poll

    run(scenario)


class SlowPressable(Pressable):
    """A button whose press takes its time, as Playwright's does when the press sends the
    browser on: its checks first, then the wait for the next document's commit."""

    def __init__(self) -> None:
        super().__init__()
        self.done = asyncio.Event()

    async def click(self) -> None:
        self.pressed.set()
        await self.done.wait()


def test_the_page_is_not_asked_while_the_press_is_under_way() -> None:
    """Every question while Playwright makes the press would be a call into the page for
    nothing (at load 20 a press took seconds); asked from the moment it is done."""

    async def scenario() -> None:
        page, button, nav = FakePage(), SlowPressable(), Nav()
        pressing = press(page, context(nav), button)
        await button.pressed.wait()
        await asyncio.sleep(20 * generic_oidc.ERROR_POLL)  # the span of 20 polls, observed
        assert button.asked.n == 0 and nav.asked.n == 0
        button.answer = True  # the page answered in place meanwhile
        button.done.set()
        await asyncio.wait_for(pressing, 1.0)
        assert button.asked.n == 1

    run(scenario)


class Readable(FakePage):
    """A page `look` can read: it shows the password field (as the page a password was just
    sent from still does, until the IdP's answer replaces it)."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        self.read += 1
        return {"controls": [], "hits": {"password": {"count": 1}}}


def test_the_next_page_is_not_read_while_the_idp_has_yet_to_answer_however_long() -> None:
    """An IdP slower than the element timeout to answer a press: the page is not asked meanwhile
    (that asks the page being left), the wait is not cut at the element timeout, and the page
    that comes is read."""

    async def scenario() -> None:
        page, nav = Readable(), Nav(navigating=True)
        ctx = context(nav, element_timeout=0.05)
        fields = generic_oidc._Fields(page, ctx)  # type: ignore[arg-type]
        reading = asyncio.ensure_future(generic_oidc._wait_for_page(page, ctx, fields))  # type: ignore[arg-type]
        await nav.asked.reach(20)  # 20 polls: four times the element timeout
        assert page.read == 0 and not reading.done()
        nav.navigating = False
        seen = await asyncio.wait_for(reading, 1.0)
        assert page.read == 1 and seen is not None and seen.shows("password")

    run(scenario)


class Visible:
    def __init__(self, shown: bool) -> None:
        self.shown = shown

    @property
    def first(self) -> Visible:
        return self

    async def is_visible(self) -> bool:
        return self.shown

    async def click(self, timeout: float) -> None:
        pass


def test_a_provider_flows_press_waits_out_a_slow_answer_instead_of_saying_nothing_happened() -> (
    None
):
    async def scenario() -> None:
        page, nav = FakePage(), Nav(navigating=True)
        gone, errors = Visible(True), Visible(False)
        pressing = asyncio.ensure_future(
            _pages.press(page, context(nav, 0.05), Visible(True), gone, errors, "Next")  # type: ignore[arg-type]
        )
        await nav.asked.reach(20)  # four times the element timeout
        assert not pressing.done()
        nav.navigating, gone.shown = False, False  # the next page: the button is gone
        await asyncio.wait_for(pressing, 1.0)

    run(scenario)


class Request:
    def __init__(self, frame: object, url: str) -> None:
        self.frame, self.url = frame, url
        self.failure = "net::ERR_CONNECTION_RESET"

    def is_navigation_request(self) -> bool:
        return True


class Response:
    def __init__(self, request: Request) -> None:
        self.request, self.status = request, 302
        self.headers: dict[str, str] = {}


def test_the_navigation_log_says_the_page_is_navigating_from_request_to_answer() -> None:
    page = FakePage()
    log = NavLog(page, clock=lambda: 0.0)  # type: ignore[arg-type]
    impl: Any = page._impl_obj
    assert not log.navigating()
    post = Request(page.main_frame, "https://idp.example.org/login")
    impl.emit("request", post)
    assert log.navigating()
    impl.emit("response", Response(post))
    assert not log.navigating()
    # A redirect's next hop is a new request: on its way again. (Each request held, as
    # Playwright holds its own: the log knows them by identity.)
    hop = Request(page.main_frame, "https://hub.example.org/hub/oauth_callback")
    impl.emit("request", hop)
    assert log.navigating()
    # A subframe's navigation is not the page's.
    frame = Request(FakeFrame(), "https://idp.example.org/frame")
    impl.emit("request", frame)
    impl.emit("response", Response(frame))
    assert log.navigating()
    impl.emit("response", Response(hop))
    assert not log.navigating()
    # One that fails (the IdP down mid-login) is over too.
    lost = Request(page.main_frame, "https://idp.example.org/login")
    impl.emit("request", lost)
    assert log.navigating()
    impl.emit("requestfailed", lost)
    assert not log.navigating()
    log.detach()
