"""probes/_controls.py's page watcher: it must never keep a closed page (and its journey) alive,
and it stops when the flow is over."""

from __future__ import annotations

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
    """What Activity uses of a Playwright page: listeners by event name."""

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
    assert set(page.listeners) == {"request", "requestfinished", "requestfailed"}
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
    assert set(page.listeners) == {"request", "requestfinished", "requestfailed"}
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
