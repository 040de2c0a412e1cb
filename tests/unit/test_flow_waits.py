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

from loginprobe.flows import FlowContext
from loginprobe.prober.journey import NavLog
from loginprobe.prober.registry import flow_module

# The built-in flows' package, loginprobe.probes, exists once the registry has loaded a flow.
flow_module("generic_oidc")

from loginprobe.probes import generic_oidc  # noqa: E402


class FakeFrame:
    pass


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


def context(polls: Count | None = None, navigating: bool = False) -> FlowContext:
    """`polls` counts the flow's polls (each asks whether the page is navigating first)."""
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def left_idp() -> None:
        await never

    def is_navigating() -> bool:
        if polls is not None:
            polls.add()
        return navigating

    return FlowContext(
        username="u",
        password="p",
        begin_step=lambda name: None,
        left_idp=left_idp,
        has_left_idp=lambda: False,
        navigating=is_navigating,
        element_timeout=5.0,
    )


def run(scenario: Callable[[], Any]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


def press(page: FakePage, ctx: FlowContext, button: Pressable) -> asyncio.Future[None]:
    return asyncio.ensure_future(generic_oidc._act_and_settle(page, ctx, button))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generic_oidc, "ERROR_POLL", 0.01)


def test_a_page_on_its_way_to_a_new_document_is_not_asked_and_is_read_once_parsed() -> None:
    async def scenario() -> None:
        page, button, polls = FakePage(), Pressable(), Count()
        button.answer = True  # were it asked, the flow would take the old page for an answer
        pressing = press(page, context(polls, navigating=True), button)
        await polls.reach(10)
        assert button.asked.n == 0 and not pressing.done()
        page.fire("framenavigated", page.main_frame)
        await polls.reach(15)
        assert not pressing.done()  # committed, not yet parsed: not read yet
        page.fire("domcontentloaded", page)
        await asyncio.wait_for(pressing, 1.0)
        assert button.asked.n == 0
        assert not any(page.listeners.values())  # its listeners go with it

    run(scenario)


def test_a_new_document_that_never_says_it_is_parsed_is_read_after_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A navigation within the document has no document to parse: read after PARSE_WAIT_S."""
    monkeypatch.setattr(generic_oidc, "PARSE_WAIT_S", 0.05)

    async def scenario() -> None:
        page, button = FakePage(), Pressable()
        pressing = press(page, context(navigating=True), button)
        await button.pressed.wait()
        page.fire("framenavigated", page.main_frame)
        await asyncio.wait_for(pressing, 1.0)

    run(scenario)


def test_a_subframes_navigation_is_not_the_pages_answer() -> None:
    async def scenario() -> None:
        page, button, polls = FakePage(), Pressable(), Count()
        pressing = press(page, context(polls, navigating=True), button)
        await button.pressed.wait()
        page.fire("framenavigated", FakeFrame())
        page.fire("domcontentloaded", page)
        await polls.reach(10)
        assert not pressing.done()
        pressing.cancel()

    run(scenario)


def test_a_page_that_answers_in_place_is_asked_one_call_a_poll_until_it_has() -> None:
    async def scenario() -> None:
        page, button, polls = FakePage(), Pressable(), Count()
        pressing = press(page, context(polls), button)
        await button.asked.reach(3)
        assert not pressing.done()
        button.answer = True  # an inline error shows, or the button went
        await asyncio.wait_for(pressing, 1.0)
        assert button.asked.n == polls.n  # one call into the page a poll

    run(scenario)


class Request:
    def __init__(self, frame: object, url: str) -> None:
        self.frame, self.url = frame, url

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
    log.detach()
