"""`POST /api/silences`, `DELETE /api/silences/{target}`: only behind `[monitor.auth]`, JSON only,
one-line errors; a real aiohttp server on loopback with a monitor that is never started."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loginprobe.monitor.service import Monitor
from loginprobe.web.silences import silence_from
from tests.unit.test_web_security import CREDS, TOKEN, basic, monitor, with_server

BEARER = f"Bearer {TOKEN}"


async def call(
    base: str, method: str, path: str, auth: str | None = None, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": auth} if auth else {}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, base + path, headers=headers, **kw) as r,
    ):
        return r.status, await r.text()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Monitor:
    return monitor(tmp_path, monkeypatch)


def test_a_deploy_pipeline_silences_a_hub_with_the_status_pages_token(served: Monitor) -> None:
    async def body(base: str) -> None:
        status, text = await call(
            base,
            "POST",
            "/api/silences",
            BEARER,
            json={"target": "h", "for": "20m", "reason": "deploy 42", "by": "ci"},
        )
        assert status == 201, text
        assert served.pipeline.silences[0].target == "h"  # in force at once
        assert served.pipeline.fleet(time.time()).silenced is not None
        assert "h" in (served.pipeline.fleet(time.time()).silenced or {})
        status, _ = await call(base, "DELETE", "/api/silences/h", BEARER)
        assert status == 200 and served.pipeline.silences == []
        assert (await call(base, "DELETE", "/api/silences/h", BEARER))[0] == 404

    with_server(served, CREDS, body)
    assert served.store.silences.current(time.time()) == []


def test_silencing_over_http_needs_credentials(served: Monitor) -> None:
    ask = {"json": {"target": "h", "for": "20m", "reason": "x"}}

    async def body(base: str) -> None:
        assert (await call(base, "POST", "/api/silences", None, **ask))[0] == 401
        wrong = basic("oncall", "not-the-password")
        assert (await call(base, "POST", "/api/silences", wrong, **ask))[0] == 401
        assert (await call(base, "DELETE", "/api/silences/h"))[0] == 401

    with_server(served, CREDS, body)
    assert served.store.silences.current(time.time()) == []


def test_without_monitor_auth_nobody_can_silence_over_http(served: Monitor) -> None:
    async def body(base: str) -> None:
        status, text = await call(
            base, "POST", "/api/silences", json={"target": "h", "for": "5m", "reason": "x"}
        )
        assert status == 403 and "[monitor.auth]" in text

    with_server(served, None, body)
    assert served.store.silences.current(time.time()) == []


def test_a_form_post_from_another_page_is_refused(served: Monitor) -> None:
    async def body(base: str) -> None:
        form = {"target": "h", "for": "5m", "reason": "x"}
        status, _ = await call(base, "POST", "/api/silences", BEARER, data=form)
        assert status == 415

    with_server(served, CREDS, body)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "must be a JSON object"),
        ({"target": "nosuch", "for": "5m", "reason": "x"}, "no hub named 'nosuch'"),
        ({"target": "idp:nosuch", "for": "5m", "reason": "x"}, "no group named 'nosuch'"),
        ({"target": "h", "reason": "x"}, 'give one of "for"'),
        ({"target": "h", "for": "5", "reason": "x"}, "for: invalid duration"),
        ({"target": "h", "until": "2020-01-01T00:00Z", "reason": "x"}, "has passed"),
        ({"target": "h", "for": "5m"}, "reason: say why"),
        ({"target": "h", "for": "5m", "reason": "x", "extra": 1}, "unknown key(s) extra"),
    ],
)
def test_a_bad_request_says_what_is_wrong(body: Any, says: str) -> None:
    got = silence_from(body, 1_800_000_000.0, ["h"], ["cilogon"])
    assert isinstance(got, str) and says in got
