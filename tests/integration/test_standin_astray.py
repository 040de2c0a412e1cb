"""A login the IdP rejected after it got the password stand-in instead of the password is the
prober's fault (probe_error), not the test account's (login_rejected).

Real Chromium through the monitor's browser pool and `probe_hub`, against one tiny local server
that is both the hub (on 127.0.0.1) and the IdP (on localhost, another origin). The IdP's login
form is sent five ways: three the rewrite takes (a POST, a POST to a static-looking URL, a POST the
IdP answers with a 307 that sends it on: the real password arrives each time), and two it cannot
(a GET form, with the fields in the URL, and a form that posts into a new window). The IdP answers
each with its login page again and "Invalid password", as a real one would. Every trace the
probes recorded is searched, before any scrubbing, for the password.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from aiohttp import web
from playwright.async_api import Browser
from pydantic import SecretStr

from loginprobe.config import HubConfig, HubSecrets
from loginprobe.model import ProbeResult
from loginprobe.monitor.pool import BrowserPool
from loginprobe.prober import evidence, hub_probe, journey, standin
from loginprobe.prober.evidence import plan_for
from loginprobe.prober.hub_probe import probe_hub, went_straight_to_idp
from loginprobe.prober.scrub import Scrubber, ScrubReport, scrub_trace
from loginprobe.redact import Redactor
from sandbox import free_port
from tests.leaks import assert_no_leaks

PASSWORD = "astray-test-Secret!1"
SECRETS = HubSecrets("student", SecretStr(PASSWORD), None, None)

# The form's method and action, by the name of the hub the test probes.
FORMS = {
    "rewritten": ("post", "/idp/session"),
    "static_url": ("post", "/idp/session.js"),
    "redirect": ("post", "/idp/redirect"),
    "get_form": ("get", "/idp/session"),
    "popup": ("post", "/idp/session"),
}


# A login page that sends its form by script (fetch), as single-page IdPs do, and shows the
# IdP's answer in place: the request is one the page's renderer sends, not a navigation.
_BY_SCRIPT = """<script>
document.querySelector('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const answer = await fetch('/idp/session', {method: 'POST',
                                              body: new URLSearchParams(new FormData(event.target))});
  document.body.innerHTML = await answer.text();
});
</script>"""


def _login_page(form: str, error: str = "") -> str:
    by_script = form.startswith("script")
    method, action = ("post", "/idp/session") if by_script else FORMS[form]
    alert = f'<p class="alert-danger" role="alert">{error}</p>' if error else ""
    return (
        "<!doctype html><title>Sign in</title><h1>Example IdP</h1>"
        f'{alert}<form method="{method}" action="{action}"'
        f"{' target=_blank' if form == 'popup' else ''}>"
        f'<input type="hidden" name="form" value="{form}">'
        '<label>Username <input name="username" autocomplete="username"></label>'
        '<label>Password <input name="password" type="password"></label>'
        "<button type=submit>Sign in</button></form>" + (_BY_SCRIPT if by_script else "")
    )


@asynccontextmanager
async def hub_and_idp(
    received: list[tuple[str, str]], served: list[str] | None = None
) -> AsyncIterator[int]:
    """The hub's pages on 127.0.0.1:PORT, the IdP's on localhost:PORT; `received` gets the
    (form, password) of every login the IdP got, `served` the form of each login page it sent."""
    port = free_port()

    async def hub_login(request: web.Request) -> web.Response:
        form = request.query.get("form", "")
        return web.Response(
            text=f'<a href="/hub/oauth_login?form={form}">Sign in</a>', content_type="text/html"
        )

    async def oauth_login(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{port}/idp/login?form={request.query['form']}")

    async def idp_login(request: web.Request) -> web.Response:
        if served is not None:
            served.append(request.query["form"])
        page = _login_page(request.query["form"])
        return web.Response(text=page, content_type="text/html")

    async def session(request: web.Request) -> web.Response:
        fields = await request.post() if request.method == "POST" else request.query
        form = str(fields["form"])
        received.append((form, str(fields.get("password", ""))))
        page = _login_page(form, "Invalid password")
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/hub/login", hub_login)
    app.router.add_get("/hub/oauth_login", oauth_login)
    app.router.add_get("/idp/login", idp_login)
    app.router.add_route("*", "/idp/session", session)
    app.router.add_route("*", "/idp/session.js", session)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/idp/session")

    app.router.add_post("/idp/redirect", redirect)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def probe_through(
    pool: BrowserPool,
    name: str,
    url: str,
    evidence_dir: Path,
    timeout: float = 30.0,
    straight_to_idp: bool = True,
) -> ProbeResult:
    """One probe of the hub at `url` with the generic flow, in the pool's browser as `probe
    serve` runs a probe that records a trace (and so types the stand-in), its evidence into
    `evidence_dir`."""
    spec = HubConfig(url=url, flow="generic_oidc", username_env="U", password_env="P")

    async def fn(browser: Browser, traces: Path | None) -> ProbeResult:
        plan = plan_for(str(evidence_dir), 3, 86400.0, traces)
        return await probe_hub(
            browser, name, spec, SECRETS, timeout=timeout, redactor=Redactor(), evidence=plan,
            straight_to_idp=straight_to_idp,
        )  # fmt: skip

    outcome = await pool.run(fn, 60)
    assert outcome.result is not None, outcome.error
    return outcome.result


def test_a_rejection_after_the_stand_in_went_out_unchanged_is_a_probe_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[tuple[str, str]] = []
    raw_traces: list[bytes] = []

    def keep_raw(raw: bytes, scrubber: Scrubber) -> tuple[bytes, ScrubReport]:
        raw_traces.append(raw)
        return scrub_trace(raw, scrubber)

    monkeypatch.setattr(evidence, "scrub_trace", keep_raw)

    async def main() -> tuple[int, dict[str, ProbeResult]]:
        async with hub_and_idp(received) as port:
            pool = BrowserPool("", concurrency=3)
            await pool.start()

            async def probe(form: str) -> ProbeResult:
                url = f"http://127.0.0.1:{port}/hub/login?form={form}"
                return await probe_through(pool, form, url, tmp_path / "artifacts")

            try:
                results = await asyncio.gather(*(probe(form) for form in FORMS))
            finally:
                await pool.stop()
            return port, {r.hub: r for r in results}

    port, results = asyncio.run(main())
    got = dict(received)
    # The rewrite's paths: the IdP got the real password, and its "no" is about the account.
    for form in ("rewritten", "static_url", "redirect"):
        assert got[form] == PASSWORD, form
        rejected = results[form].verdict
        assert str(rejected.code) == "login_rejected", (form, rejected)
        assert "Invalid password" in rejected.summary
    # The others: the IdP got the stand-in, so its "no" says nothing about the account.
    # What the IdP said is kept (the popup's answer is in the popup: the page asks again).
    for form, how, answer in (
        ("popup", "past the rewrite: POST", "the IdP asked for the password again"),
        ("get_form", "in the URL of a GET form: GET", "Invalid password"),
    ):
        assert got[form] not in ("", PASSWORD), got
        verdict = results[form].verdict
        assert str(verdict.code) == "probe_error", (form, verdict)
        assert how in verdict.summary, verdict.summary
        assert "password_stand_in = false" in verdict.summary
        assert f"(it answered: the IdP rejected the test account: {answer}" in verdict.summary
    popup = results["popup"].verdict.summary
    assert f"http://localhost:{port}/idp/session — set" in popup
    # The stand-in in the GET form's URL is masked with the rest of its query.
    get_form = results["get_form"].verdict.summary
    assert got["get_form"] not in get_form
    assert "&password=*** — set" in get_form
    for result in results.values():
        assert PASSWORD not in json.dumps(result.to_json())
    # Every failing probe recorded a trace; none held the password, in any form, before scrubbing.
    assert len(raw_traces) == len(FORMS)
    outputs = {f"trace {i}": raw for i, raw in enumerate(raw_traces)}
    assert_no_leaks(outputs, {"password": PASSWORD, "password, form-encoded": quote_plus(PASSWORD)})


def test_the_interception_is_on_before_the_idp_page_loads_however_the_hub_gets_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in's interception goes on as the browser leaves the hub's sign-in page: the
    hub's first page loads without it, the IdP's through it. A hub that sends the browser to the
    IdP by itself before it is on (no sign-in page, unannounced) is opened again once it is: the
    IdP page the password goes into (sent here by the page's own script, not a navigation) always
    loaded through it from its start. Announced (`straight_to_idp`, from its last probe), it is
    on from the start and the hub opened once."""
    received: list[tuple[str, str]] = []
    served: list[str] = []
    stand_ins: list[Any] = []

    class Kept(standin.PasswordStandIn):
        """The stand-in, keeping the URL of each page load its interception stopped."""

        def __init__(self, password: str) -> None:
            super().__init__(password)
            self.documents_stopped: list[str] = []
            stand_ins.append(self)

        def _paused(self, session: Any, event: dict[str, Any]) -> None:
            if event.get("resourceType") == "Document":
                self.documents_stopped.append(str(event["request"]["url"]))
            super()._paused(session, event)

    monkeypatch.setattr(hub_probe, "PasswordStandIn", Kept)
    cases = {  # form -> (the hub's URL path, straight_to_idp)
        "script_sign_in_page": ("/hub/login", False),
        "script_unannounced": ("/hub/oauth_login", False),
        "script_announced": ("/hub/oauth_login", True),
    }

    async def main() -> dict[str, ProbeResult]:
        async with hub_and_idp(received, served) as port:
            pool = BrowserPool("", concurrency=2)
            await pool.start()

            async def probe(form: str) -> ProbeResult:
                path, straight = cases[form]
                url = f"http://127.0.0.1:{port}{path}?form={form}"
                return await probe_through(
                    pool, form, url, tmp_path / "artifacts", straight_to_idp=straight
                )

            try:
                results = await asyncio.gather(*(probe(form) for form in cases))
            finally:
                await pool.stop()
            return {r.hub: r for r in results}

    results = asyncio.run(main())
    # The IdP got the password each time, from the page's script: its "no" is the account's.
    assert sorted(received) == sorted((form, PASSWORD) for form in cases)
    for form, result in results.items():
        assert str(result.verdict.code) == "login_rejected", (form, result.verdict)
        assert "Invalid password" in result.verdict.summary
    # The last IdP login page each probe got (the one its flow read) loaded through the
    # interception; the hub's own first pages did not.
    stopped = {s.documents_stopped[-1].split("form=")[-1]: s.documents_stopped for s in stand_ins}
    assert sorted(stopped) == sorted(cases)
    for form, pages in stopped.items():
        idp_pages = [u for u in pages if "/idp/login" in u]
        assert idp_pages and pages[-1] == idp_pages[-1], (form, pages)
    assert not any("/hub/login" in u for u in stopped["script_sign_in_page"])
    # Unannounced: of the IdP's two login pages, the first loaded without it (and was not used).
    assert sum("/idp/login" in u for u in stopped["script_unannounced"]) == 1
    # Opened twice only when the hub went to the IdP unannounced: once through a sign-in page,
    # once announced.
    assert served.count("script_sign_in_page") == 1
    assert served.count("script_unannounced") == 2
    assert served.count("script_announced") == 1
    # What the monitor remembers for the hub's next probe.
    assert went_straight_to_idp(results["script_sign_in_page"]) is False
    assert went_straight_to_idp(results["script_unannounced"]) is True
    assert went_straight_to_idp(results["script_announced"]) is True


@pytest.mark.parametrize(("arm_timeout", "probe_timeout"), [(0.5, 30.0), (30.0, 8.0)])
def test_a_browser_that_never_switches_the_interception_on_is_a_probe_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arm_timeout: float, probe_timeout: float
) -> None:
    """Within its own bound, or within the probe's deadline if that comes first: the prober's
    failure, never the hub's (the hub answered every request)."""

    async def never(self: standin.PasswordStandIn, page: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(standin.PasswordStandIn, "arm", never)
    monkeypatch.setattr(journey, "ARM_TIMEOUT_S", arm_timeout)

    async def main() -> ProbeResult:
        async with hub_and_idp([]) as port:
            pool = BrowserPool("", concurrency=1)
            await pool.start()
            url = f"http://127.0.0.1:{port}/hub/login?form=rewritten"
            try:
                return await probe_through(
                    pool, "h", url, tmp_path, timeout=probe_timeout, straight_to_idp=False
                )
            finally:
                await pool.stop()

    result = asyncio.run(main())
    verdict, failure = result.verdict, result.observation.failure
    assert str(verdict.code) == "probe_error", verdict
    assert failure is not None and failure.where == "prober", failure
    assert failure.step == "hub_login", failure
    assert "did not switch the password stand-in's interception on within" in failure.detail
    assert result.duration_ms < (min(arm_timeout, probe_timeout) + 10) * 1000
