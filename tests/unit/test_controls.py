"""probes/_controls.py's page watcher: it must never keep a closed page (and its journey) alive,
it stops when the flow is over, and it watches a page's requests only once they can matter."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable
from typing import Any

from loginprobe import flows
from loginprobe.prober.registry import flow_module

# The built-in flows' package, loginprobe.probes, exists once the registry has loaded a flow.
flow_module("generic_oidc")

from loginprobe.probes import _controls  # noqa: E402


class FakePage:
    """What Activity uses of a Playwright page: listeners by event name (and, in `LoadingPage`,
    the lifecycle events Playwright's Python side knows of)."""

    def __init__(self) -> None:
        self.listeners: dict[str, list[Callable[[Any], None]]] = {}

    def on(self, event: str, handler: Callable[[Any], None]) -> None:
        self.listeners.setdefault(event, []).append(handler)

    def remove_listener(self, event: str, handler: Callable[[Any], None]) -> None:
        self.listeners[event].remove(handler)
        if not self.listeners[event]:
            del self.listeners[event]


def test_the_watch_on_a_pages_requests_stops_when_the_flow_is_over() -> None:
    """The hub's pages after the login need no watch: a listener makes Playwright send Python
    every request of the page. A flow asking again later gets a new watch."""
    page = FakePage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert set(page.listeners) == WATCH | {"domcontentloaded"}
    flows.flow_over(page)  # type: ignore[arg-type]
    assert page.listeners == {}
    assert _controls.activity_of(page) is not activity  # type: ignore[arg-type]
    flows.flow_over(page)  # type: ignore[arg-type]
    assert page.listeners == {}


def test_a_cleanup_that_fails_takes_nothing_else_with_it() -> None:
    page, done = FakePage(), []

    def broken() -> None:
        raise RuntimeError("gone")

    flows.after_flow(page, broken)  # type: ignore[arg-type]
    flows.after_flow(page, lambda: done.append(1))  # type: ignore[arg-type]
    flows.flow_over(page)  # type: ignore[arg-type]
    assert done == [1]


def test_a_watched_page_is_freed_once_nothing_else_holds_it() -> None:
    page = FakePage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert _controls.activity_of(page) is activity  # type: ignore[arg-type]
    assert set(page.listeners) == WATCH | {"domcontentloaded"}
    # This page's own fate: other tests' pages in the same process may be collected meanwhile.
    gone = weakref.ref(page)

    class Request:  # a request that never finishes (the context closed under it) points back
        def __init__(self, page: FakePage) -> None:
            self.page = page

    page.listeners["request"][0](Request(page))
    del page, activity
    gc.collect()
    assert gone() is None, "the watcher kept its page alive"


def test_requests_in_flight_keep_the_page_unsettled() -> None:
    page = FakePage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    request = object()
    page.listeners["request"][0](request)
    assert activity.pending == {id(request)}
    page.listeners["requestfinished"][0](request)
    assert activity.pending == set()


WATCH = {"request", "requestfinished", "requestfailed"}


class _Frame:
    def __init__(self) -> None:
        self._load_states = {"commit", "domcontentloaded", "load"}


class _MainFrame:
    def __init__(self) -> None:
        self._impl_obj = _Frame()


class LoadingPage(FakePage):
    """A page as Playwright's Python side has it: its document's lifecycle events, known without
    a call; and a DOM that has been quiet long (what `settled` asks the page)."""

    def __init__(self) -> None:
        super().__init__()
        self.main_frame = _MainFrame()
        self.asked = 0

    def went_idle(self) -> None:
        self.main_frame._impl_obj._load_states.add("networkidle")

    def fire(self, event: str, arg: Any) -> None:
        for handler in list(self.listeners.get(event, [])):
            handler(arg)

    async def evaluate(self, script: str) -> dict[str, Any]:
        self.asked += 1
        return {"ready": "complete", "quiet": 60_000.0}


def _settled(activity: Any) -> bool:
    return bool(asyncio.run(activity.settled(0.0)))


def test_a_page_that_shows_what_the_flow_knows_is_never_watched() -> None:
    """No listener until the flow asks whether the page has settled: Playwright's driver sends
    Python no script, style sheet or image of a healthy login's pages."""
    page = LoadingPage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert set(page.listeners) == {"domcontentloaded"} and not activity.watching
    flows.flow_over(page)  # type: ignore[arg-type]
    assert page.listeners == {}


def test_the_first_question_starts_the_watch_and_is_not_yet_settled() -> None:
    page = LoadingPage()
    page.went_idle()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert not _settled(activity)
    assert set(page.listeners) == WATCH | {"domcontentloaded"}
    assert _settled(activity)
    flows.flow_over(page)  # type: ignore[arg-type]
    assert page.listeners == {}


def test_a_document_not_yet_network_idle_is_not_settled_however_quiet() -> None:
    """A request the page started before the watch (a config fetched as it loads) is one the
    watch never saw start: the driver's "networkidle" has not fired while it is in flight."""
    page = LoadingPage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert not _settled(activity)  # starts the watch (and the page's own, of its DOM)
    asked = page.asked
    assert not _settled(activity) and not _settled(activity)
    assert page.asked == asked, "asked the page while a request of it may be in flight"
    page.went_idle()
    assert _settled(activity)


def test_a_request_seen_in_flight_keeps_an_idle_page_unsettled() -> None:
    page = LoadingPage()
    page.went_idle()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    _settled(activity)
    request = object()
    page.listeners["request"][0](request)
    assert not _settled(activity)
    page.listeners["requestfailed"][0](request)
    assert _settled(activity)


def test_a_press_with_no_watch_on_is_not_settled_before_the_next_document() -> None:
    """Google's and Azure AD's next step is fetched by the press, at once or later by script,
    and no watch saw it start: nothing says the page is quiet until a new document replaces it
    (a page still loading may go idle before that fetch starts). No watch is started for it
    either: the next document's first question starts one."""
    page = LoadingPage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    activity.before_press()
    page.went_idle()
    assert activity.blind and not activity.watching
    assert not _settled(activity) and not _settled(activity)
    assert page.asked == 0 and set(page.listeners) == {"domcontentloaded"}
    # A navigation within the document (pushState) is no new document: its fetches go on.
    page.fire("framenavigated", page.main_frame)
    assert not _settled(activity)
    page.fire("domcontentloaded", page)
    assert not activity.blind
    assert not _settled(activity)  # the first question of the new document starts the watch
    assert _settled(activity)
    flows.flow_over(page)  # type: ignore[arg-type]
    assert page.listeners == {}


def test_a_press_whose_next_document_is_parsed_before_the_click_returns_leaves_it_readable() -> (
    None
):
    """Playwright's click returns once the navigation it started has committed; a small page
    may have fired its DOMContentLoaded by then. Blind from before the click, so that page is
    not blind for good."""
    page = LoadingPage()
    page.went_idle()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    activity.before_press()
    page.fire("domcontentloaded", page)  # ... during the click
    assert not activity.blind
    assert not _settled(activity)
    assert _settled(activity)
    flows.flow_over(page)  # type: ignore[arg-type]


def test_a_press_a_watch_saw_leaves_the_page_as_it_was() -> None:
    page = LoadingPage()
    page.went_idle()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert not _settled(activity)  # starts the watch
    activity.before_press()  # the watch sees whatever the press starts
    assert not activity.blind and _settled(activity)
    flows.flow_over(page)  # type: ignore[arg-type]
    assert page.listeners == {}


def test_a_flow_over_while_blind_leaves_no_listener() -> None:
    page = LoadingPage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    activity.before_press()
    flows.flow_over(page)  # type: ignore[arg-type]
    assert page.listeners == {} and not activity.blind


def test_networkidle_seen_once_since_the_watch_began_is_enough_for_its_document() -> None:
    """The driver may drop "networkidle" again for good (a frame's lifecycle event while a
    request runs): the requests after it are the watch's to see."""
    page = LoadingPage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert not _settled(activity)  # starts the watch
    page.went_idle()
    assert _settled(activity)
    page.main_frame._impl_obj._load_states.discard("networkidle")
    assert _settled(activity)
    flows.flow_over(page)  # type: ignore[arg-type]


def test_networkidle_is_read_at_every_question_not_only_once_quiet() -> None:
    """The driver may drop "networkidle" for good while the watch still has a request in flight
    (a frame's lifecycle event after a request that ran while it stood): seen then, it counts."""
    page = LoadingPage()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert not _settled(activity)  # starts the watch
    request = object()
    page.listeners["request"][0](request)
    page.went_idle()
    assert not _settled(activity)  # in flight: not settled, but "networkidle" was seen
    page.main_frame._impl_obj._load_states.discard("networkidle")
    page.listeners["requestfinished"][0](request)
    assert _settled(activity)
    flows.flow_over(page)  # type: ignore[arg-type]


def test_a_new_document_under_a_watch_needs_no_networkidle() -> None:
    """A watch on before a document's commit saw every request of it."""
    page = LoadingPage()
    page.went_idle()
    activity = _controls.activity_of(page)  # type: ignore[arg-type]
    assert not _settled(activity)  # starts the watch
    page.main_frame._impl_obj._load_states.discard("networkidle")
    page.fire("domcontentloaded", page)
    assert _settled(activity)
    flows.flow_over(page)  # type: ignore[arg-type]
