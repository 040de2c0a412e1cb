"""`probe serve`'s endpoints, safe to expose: authentication, headers on every response, no server
paths in /api/status, a header-read timeout, a connection cap and a file-handle budget of the probes'
own. A real aiohttp server on loopback, with a monitor that is never started."""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from loginprobe.config import ServerCredentials
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings
from loginprobe.store import Store
from loginprobe.web.app import make_app
from loginprobe.web.auth import authorized, exposure_warning
from loginprobe.web.listener import RESERVED_FDS, connection_cap, raise_file_limit, start_site

TOKEN = "t0ken-for-the-status-page-0123"
PASSWORD = "basic-auth-password-4567"
CREDS = ServerCredentials(
    token=SecretStr(TOKEN),
    username="oncall",
    password=SecretStr(PASSWORD),
    protect_healthz=False,
    protect_metrics=True,
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def monitor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Monitor:
    monkeypatch.setenv("W_USER", "u")
    monkeypatch.setenv("W_PASS", "p-value-long")
    config = tmp_path / "config.toml"
    config.write_text(f"""
[monitor]
state = "sqlite:///{tmp_path}/state.sqlite"
artifacts_dir = "{tmp_path}/artifacts"
[hubs.h]
url = "http://127.0.0.1:9"
flow = "generic_oidc"
username_env = "W_USER"
password_env = "W_PASS"
""")
    settings = Settings.load(config)
    return Monitor(settings, Store(settings.loaded.config.monitor.state), Metrics())


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Monitor:
    return monitor(tmp_path, monkeypatch)


async def _start(m: Monitor, creds: ServerCredentials | None, **limits: Any) -> tuple[str, Any]:
    server = await start_site(make_app(m, creds), "127.0.0.1", 0, **limits)
    return f"http://127.0.0.1:{server.port}", server


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def with_server(
    m: Monitor, creds: ServerCredentials | None, body: Callable[[str], Awaitable[Any]], **kw: Any
) -> Any:
    async def go() -> Any:
        base, server = await _start(m, creds, **kw)
        try:
            return await body(base)
        finally:
            await server.cleanup()

    return run(go())


async def fetch(base: str, path: str, auth: str | None = None) -> tuple[int, Any, bytes]:
    headers = {"Authorization": auth} if auth else {}
    async with aiohttp.ClientSession() as s, s.get(base + path, headers=headers) as r:
        return r.status, r.headers, await r.read()


# -- authentication ---------------------------------------------------------------------------
def test_status_page_api_and_evidence_need_credentials(served: Monitor) -> None:
    async def body(base: str) -> None:
        for path in ("/", "/api/status", "/artifacts/h/20261126T120000Z/page.html"):
            status, headers, _ = await fetch(base, path)
            assert status == 401, path
            assert 'Basic realm="loginprobe"' in headers["WWW-Authenticate"]
            assert (await fetch(base, path, basic("oncall", "wrong-password-000000")))[0] == 401
            assert (await fetch(base, path, "Bearer not-the-token-000000000"))[0] == 401
        assert (await fetch(base, "/", f"Bearer {TOKEN}"))[0] == 200
        assert (await fetch(base, "/api/status", basic("oncall", PASSWORD)))[0] == 200
        # Right password, wrong user: refused.
        assert (await fetch(base, "/", basic("admin", PASSWORD)))[0] == 401

    with_server(served, CREDS, body)


def test_healthz_and_metrics_are_configured_separately(served: Monitor) -> None:
    async def body(base: str) -> tuple[int, int]:
        return (await fetch(base, "/healthz"))[0], (await fetch(base, "/metrics"))[0]

    healthz, metrics = with_server(served, CREDS, body)
    assert healthz in (200, 503) and metrics == 401
    flipped = ServerCredentials(
        token=CREDS.token,
        username="oncall",
        password=None,
        protect_healthz=True,
        protect_metrics=False,
    )
    healthz, metrics = with_server(served, flipped, body)
    assert healthz == 401 and metrics == 200


def test_without_auth_config_everything_is_open(served: Monitor) -> None:
    async def body(base: str) -> int:
        return (await fetch(base, "/api/status"))[0]

    assert with_server(served, None, body) == 200


def test_authorized_reads_bearer_and_basic_and_nothing_else() -> None:
    assert authorized(f"Bearer {TOKEN}", CREDS)
    assert authorized(f"bearer {TOKEN}", CREDS)
    assert authorized(basic("oncall", PASSWORD), CREDS)
    for header in (None, "", TOKEN, f"Token {TOKEN}", "Basic !!!", basic("oncall", "")):
        assert not authorized(header, CREDS), header


def test_exposing_the_port_without_auth_is_warned_about() -> None:
    assert exposure_warning("0.0.0.0", False) is not None
    assert exposure_warning("0.0.0.0", True) is None
    assert exposure_warning("127.0.0.1", False) is None


# -- headers and paths --------------------------------------------------------------------------
def test_every_response_forbids_framing_sniffing_and_loading_anything(served: Monitor) -> None:
    async def body(base: str) -> list[Any]:
        return [
            (await fetch(base, path, f"Bearer {TOKEN}"))[1]
            for path in ("/", "/api/status", "/healthz", "/metrics", "/nope", "/artifacts/x/y/z")
        ]

    for headers in with_server(served, CREDS, body):
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_api_status_names_evidence_by_url_not_by_server_path(
    served: Monitor, tmp_path: Path
) -> None:
    where = tmp_path / "artifacts" / "h" / "20261126T120000Z"
    where.mkdir(parents=True)
    (where / "page.html").write_text("<p>page</p>")
    evidence = {
        "dir": str(where),
        "ref": "h/20261126T120000Z",
        "screenshot": None,
        "html": str(where / "page.html"),
        "trace": None,
    }
    result = {
        "hub": "h",
        "ok": False,
        "verdict": {"code": "hub_error", "severity": "critical", "summary": "h: x", "step": "s"},
        "steps": [],
        "started_at": "2026-11-26T12:00:00+00:00",
        "duration_ms": 5,
        "evidence": evidence,
    }
    served.store.record(result, {}, [], time.time(), "2026-11-26T12:00:00+00:00")

    async def body(base: str) -> tuple[bytes, bytes, int]:
        api = (await fetch(base, "/api/status", f"Bearer {TOKEN}"))[2]
        page = (await fetch(base, "/", f"Bearer {TOKEN}"))[2]
        link = (await fetch(base, "/artifacts/h/20261126T120000Z/page.html", f"Bearer {TOKEN}"))[0]
        return api, page, link

    api, page, link = with_server(served, CREDS, body)
    assert str(tmp_path).encode() not in api and str(tmp_path).encode() not in page
    shown = json.loads(api)["hubs"][0]["last_failure"]["evidence"]
    assert shown["html"] == "/artifacts/h/20261126T120000Z/page.html"
    assert b"artifacts/h/20261126T120000Z/page.html" in page
    assert link == 200


# -- the socket ---------------------------------------------------------------------------------
def test_a_request_whose_headers_never_finish_is_closed(served: Monitor) -> None:
    async def body(base: str) -> tuple[bytes, float]:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        await writer.drain()
        t0 = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return rest, time.monotonic() - t0

    rest, took = with_server(served, None, body, header_timeout=0.5)
    assert rest == b"" and took < 5


def test_a_kept_alive_connection_is_watched_again_for_its_next_request(served: Monitor) -> None:
    async def body(base: str) -> tuple[bytes, bytes, float]:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the second never finishes
        t0 = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 10)  # the first's body, then the close
        writer.close()
        return first, rest, time.monotonic() - t0

    first, rest, took = with_server(served, None, body, header_timeout=0.5)
    assert first.startswith(b"HTTP/1.1 ")
    assert b"HTTP/1.1 " not in rest and took < 5


def test_connections_beyond_the_cap_are_closed_and_the_rest_still_served(served: Monitor) -> None:
    async def body(base: str) -> tuple[int, int]:
        port = int(base.rsplit(":", 1)[1])
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(12)]
        await asyncio.sleep(0.2)
        closed = 0
        for reader, _ in held:
            try:
                if await asyncio.wait_for(reader.read(1), 0.5) == b"":
                    closed += 1
            except TimeoutError:
                pass  # still open: one of the allowed connections
            except ConnectionResetError:
                closed += 1
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.2)
        status = (await fetch(base, "/healthz"))[0]
        return closed, status

    closed, status = with_server(served, None, body, max_connections=4, header_timeout=30)
    assert closed == 8
    assert status in (200, 503)


def test_the_probes_keep_their_share_of_open_files() -> None:
    soft = raise_file_limit()
    assert soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard == resource.RLIM_INFINITY or soft == hard
    assert connection_cap(256) == 64
    assert connection_cap(RESERVED_FDS + 10) == 10
    assert connection_cap(100) >= 1
