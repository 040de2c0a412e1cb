"""probes/_controls.py's page watcher: it must never keep a closed page (and its journey) alive."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Any

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
