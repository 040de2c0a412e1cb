"""Evidence of failing probes, against the real sandbox: what is written, that no secret is in any
of it (the trace zip opened member by member), that Playwright's own trace tool reads the trace and
finds the failing step, retention, a failure to write, and `probe serve` linking and serving it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from loginprobe.config.loading import load
from loginprobe.config.secrets import resolve_secrets
from loginprobe.model import ProbeResult
from loginprobe.prober import hub_probe
from loginprobe.prober.browser import open_browser
from loginprobe.prober.evidence import TraceRecorder, plan_for, stamp
from loginprobe.prober.hub_probe import probe_hub
from loginprobe.redact import Redactor
from sandbox import Sandbox
from tests.integration.conftest import Prober
from tests.integration.test_serve import KEY, Serve, serve  # noqa: F401  (the fixture)
from tests.leaks import assert_no_leaks

pytestmark = pytest.mark.sandbox

# An OAuth parameter with a value that is not the mask, anywhere in a text.
OAUTH_VALUE = re.compile(
    rb"(?:^|[?&;#\s\"'/])(code|state|session_state|id_token|access_token)=(?!\*\*\*)[^&#;\s\"'<>]+"
)
PLAYWRIGHT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "playwright"


def members(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as z:
        return {name: z.read(name) for name in z.namelist()}


def assert_clean(sandbox: Sandbox, name: str, data: bytes) -> None:
    for secret in (sandbox.password, sandbox.client_secret, sandbox.routing_key):
        assert secret.encode() not in data, f"a secret is in {name}"
    m = OAUTH_VALUE.search(data)
    assert m is None, f"an OAuth value is in {name}: {m.group(0)[:80]!r}"
    for header in (b'"name": "Cookie"', b'"name": "cookie"', b'"name": "Set-Cookie"'):
        assert header not in data, f"{header!r} is in {name}"


def trace_tool(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(PLAYWRIGHT), "trace", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_failing_probe_evidence_has_no_secret_and_shows_the_failing_step(
    sandbox: Sandbox, prober: Prober, tmp_path: Path
) -> None:
    # The secret expires at the IdP: the password is typed, code and state travel in URLs, and
    # the hub's callback answers 500. Everything a trace can record has happened.
    with sandbox.fault("secret_expired"):
        run = prober.run("run", "sandbox", "--json")
    assert run.code == 1, run.stderr
    result = run.json
    assert result["verdict"]["code"] == "client_secret_expired"
    ev = result["evidence"]
    where = Path(ev["dir"])
    assert where.parent == (run.workdir / "artifacts" / "sandbox").resolve()
    assert ev["ref"] == f"sandbox/{where.name}"
    started = datetime.fromisoformat(result["started_at"])
    assert stamp(started) == where.name
    assert sorted(p.name for p in where.iterdir()) == ["page.html", "screenshot.png", "trace.zip"]
    for key, name in (
        ("screenshot", "screenshot.png"),
        ("html", "page.html"),
        ("trace", "trace.zip"),
    ):
        assert ev[key] == str(where / name)

    assert (where / "screenshot.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    html = (where / "page.html").read_bytes()
    assert b"500" in html
    assert_clean(sandbox, "page.html", html)
    assert_clean(sandbox, "screenshot.png", (where / "screenshot.png").read_bytes())
    trace = members(where / "trace.zip")
    assert {"trace.trace", "trace.network"} <= set(trace)
    for name, data in trace.items():
        assert_clean(sandbox, f"trace.zip:{name}", data)
    # The password was typed, and the trace says so without saying what.
    fills = [
        json.loads(line)
        for line in trace["trace.trace"].splitlines()
        if b'"method": "fill"' in line
    ]
    assert len(fills) == 2 and all(f["params"]["value"] == "***" for f in fills)

    # Playwright's own trace tool reads it: the steps as groups, the callback's 500.
    tool = tmp_path / "trace-tool"
    tool.mkdir()
    info = trace_tool(tool, "open", str(where / "trace.zip"))
    assert "Actions:" in info
    actions = trace_tool(tool, "actions")
    for step in ("hub_start", "idp_login", "oauth_callback", "probe failed: oauth_callback"):
        assert step in actions, actions
    requests = trace_tool(tool, "requests")
    [callback] = [line for line in requests.splitlines() if "oauth_callback?" in line]
    assert " 500 " in callback and "code=***" in callback and "state=***" in callback
    trace_tool(tool, "close")

    # Nothing of the raw trace is left behind: Playwright's working files held the password.
    leftovers = [p for p in run.tmpdir.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers


@pytest.mark.parametrize(
    ("trace", "extra_hub"),
    [(False, ""), (True, "password_stand_in = false")],
    ids=["no-trace-asked", "stand-in-off"],
)
def test_a_failing_probe_that_records_no_trace_keeps_a_clean_screenshot_and_html(
    sandbox: Sandbox,
    prober: Prober,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trace: bool,
    extra_hub: str,
) -> None:
    """A healthy hub's probe in `probe serve` records no trace, and so types the password itself
    (no stand-in); a hub with the stand-in off never records one, even when asked. When such a
    probe fails at the IdP (here a hostile one, whose error page shows the password back,
    re-encoded, among planted tokens), the screenshot and the HTML it keeps hold none of it,
    and no working file is left."""
    for key, value in sandbox.probe_env().items():
        monkeypatch.setenv(key, value)
    made: list[object] = []

    class Counted(hub_probe.PasswordStandIn):
        def __init__(self, password: str) -> None:
            super().__init__(password)
            made.append(self)

    monkeypatch.setattr(hub_probe, "PasswordStandIn", Counted)
    monitor = f'artifacts_dir = "{tmp_path / "artifacts"}"'
    loaded = load(prober.config(monitor=monitor, extra_hub=extra_hub))
    hub, secrets = loaded.config.hubs["sandbox"], resolve_secrets(loaded, ["sandbox"])["sandbox"]
    assert hub.password_stand_in is not bool(extra_hub)
    traces = tmp_path / "traces"
    plan = plan_for(str(tmp_path / "artifacts"), 5, 3600.0, traces, trace=trace)

    async def probe() -> tuple[ProbeResult, list[Path]]:
        async with async_playwright() as pw, open_browser(pw, "", traces) as browser:
            result = await probe_hub(
                browser, "sandbox", hub, secrets, timeout=30.0,
                redactor=Redactor(secrets.values()), evidence=plan,
            )  # fmt: skip
            return result, [p for p in traces.rglob("*") if p.is_file()]

    with sandbox.fault("hostile", "idp_login"):
        result, left = asyncio.run(probe())
    assert made == []  # the password itself was typed: this is the case to check
    assert str(result.verdict.code) == "login_rejected", result.verdict
    assert result.evidence is not None and result.evidence.trace is None
    where = Path(result.evidence.dir)
    assert sorted(p.name for p in where.iterdir()) == ["page.html", "screenshot.png"]
    assert b"Invalid password" in (where / "page.html").read_bytes()
    searched = {
        **sandbox.hostile.planted,
        "test password": sandbox.password,
        "client secret": sandbox.client_secret,
    }
    outputs = {p.name: p.read_bytes() for p in where.iterdir()}
    outputs["the result"] = json.dumps(result.to_json())
    assert_no_leaks(outputs, searched)
    assert left == [], left


def test_healthy_probe_keeps_no_evidence(prober: Prober) -> None:
    run = prober.run("run", "sandbox", "--json")
    assert run.code == 0, run.stderr
    assert run.json["evidence"] is None
    assert not any((run.workdir / "artifacts").rglob("*"))
    assert [p for p in run.tmpdir.rglob("*") if p.is_file()] == []


def test_human_output_says_where_the_evidence_is(sandbox: Sandbox, prober: Prober) -> None:
    with sandbox.fault("login_500"):
        run = prober.run("run", "sandbox")
    assert run.code == 1, run.stderr
    [where] = (run.workdir / "artifacts" / "sandbox").iterdir()
    assert f"evidence: {where.resolve()}" in run.stdout
    assert f"trace:    playwright show-trace {where.resolve() / 'trace.zip'}" in run.stdout


def test_retention_keeps_the_newest_and_drops_the_old(
    sandbox: Sandbox, prober: Prober, tmp_path: Path
) -> None:
    root = tmp_path / "ev"
    config = prober.config(
        monitor=f'artifacts_dir = "{root}"\nartifacts_keep = 2\nartifacts_max_age = "7d"'
    )
    hub_dir = root / "sandbox"
    hub_dir.mkdir(parents=True)
    now = datetime.now(UTC)
    old, recent, older_recent = (
        stamp(now - timedelta(days=8)),
        stamp(now - timedelta(minutes=5)),
        stamp(now - timedelta(minutes=10)),
    )
    for name in (old, recent, older_recent):
        (hub_dir / name).mkdir()
    (hub_dir / "not-ours").mkdir()
    with sandbox.fault("login_500"):
        run = prober.run("run", "sandbox", "--json", config=config)
    assert run.code == 1, run.stderr
    new = Path(run.json["evidence"]["dir"]).name
    assert sorted(p.name for p in hub_dir.iterdir()) == sorted([new, recent, "not-ours"])


def test_evidence_that_cannot_be_written_changes_nothing_else(
    sandbox: Sandbox, prober: Prober, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    config = prober.config(monitor=f'artifacts_dir = "{blocked}"')
    with sandbox.fault("login_500"):
        run = prober.run("run", "sandbox", "--json", config=config)
    assert run.code == 1, run.stderr
    assert run.json["verdict"]["code"] == "hub_error"
    assert run.json["evidence"] is None
    [line] = [json.loads(x) for x in run.stderr.splitlines() if "evidence not written" in x]
    assert line["hub"] == "sandbox" and line["error"].startswith(("FileExistsError", "NotADir"))


def test_evidence_can_be_switched_off(sandbox: Sandbox, prober: Prober) -> None:
    config = prober.config(monitor='artifacts_dir = ""')
    with sandbox.fault("login_500"):
        run = prober.run("run", "sandbox", "--json", config=config)
    assert run.code == 1
    assert run.json["evidence"] is None
    assert not (run.workdir / "artifacts").exists()


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_serve_pages_with_links_to_evidence_it_serves(
    sandbox: Sandbox,
    serve: Serve,  # noqa: F811
) -> None:
    public = f"http://127.0.0.1:{serve.port}"
    serve.extra_monitor = (
        f'failures_to_alert = 1\npublic_url = "{public}"\nartifacts_dir = "{serve.workdir}/ev"\n'
    )
    runbook = "https://wiki.example.org/runbooks/login-500"
    serve.write_config()
    serve.config.write_text(serve.config.read_text() + f'\n[runbooks]\nhub_error = "{runbook}"\n')
    with sandbox.fault("login_500"):
        serve.start()
        [event] = sandbox.pagerduty.wait_for(
            lambda evs: any(e["dedup_key"] == KEY for e in evs), 90
        )
    assert event["payload"]["class"] == "hub_error"
    links = {link["text"]: link["href"] for link in event["links"]}
    assert links["loginprobe status page"] == f"{public}/"
    assert links["runbook"] == runbook
    assert event["payload"]["custom_details"]["runbook"] == runbook
    assert "images" not in event  # a plain-http public_url: PagerDuty shows only HTTPS images
    urls = event["payload"]["custom_details"]["artifacts"]
    assert set(urls) == {"screenshot", "html", "trace"}

    status, body, headers = get(urls["trace"])
    assert status == 200 and headers["Content-Type"] == "application/zip"
    zip_path = serve.workdir / "served-trace.zip"
    zip_path.write_bytes(body)
    for name, data in members(zip_path).items():
        assert_clean(sandbox, name, data)
    status, body, headers = get(urls["html"])
    assert status == 200 and "sandbox" in headers["Content-Security-Policy"]
    status, body, _ = get(urls["screenshot"])
    assert status == 200 and body.startswith(b"\x89PNG")

    ref = urls["trace"].removeprefix(f"{public}/artifacts/").rsplit("/", 1)[0]
    (serve.workdir / "ev" / "outside.txt").write_text("not evidence")
    for path in (
        f"/artifacts/{ref}/../../outside.txt",
        f"/artifacts/{ref}/..%2F..%2Foutside.txt",
        "/artifacts/sandbox/..%2F/outside.txt",
        f"/artifacts/{ref}/config.toml",
        "/artifacts/%2E%2E/%2E%2E/config.toml",
        "/artifacts/sandbox/20200101T000000Z/trace.zip",
    ):
        status, body, _ = get(public + path)
        assert status == 404, (path, status)
        assert b"not evidence" not in body
    serve.stop()
    serve.assert_no_secrets()


def test_a_probe_that_timed_out_still_leaves_its_trace(sandbox: Sandbox, prober: Prober) -> None:
    # The page is stuck in a navigation the IdP never answers: the screenshot and HTML may not
    # come, the trace must, and taking it must not stretch the probe past its timeout.
    with sandbox.fault("idp_slow", 8):
        run = prober.run("run", "sandbox", "--json", config=prober.config(timeout="4s"))
    assert run.json["verdict"]["code"] == "timeout"
    assert run.json["duration_ms"] < 12_000
    trace = run.json["evidence"]["trace"]
    assert trace is not None
    for name, data in members(Path(trace)).items():
        assert_clean(sandbox, name, data)


def test_two_probes_tracing_at_once_keep_both_traces_and_leave_no_working_files(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Playwright stores a resource once for every trace in the browser's traces_dir: the probe
    that finishes first must not delete what the other one still needs (the review found it)."""

    async def both() -> tuple[list[str], list[str], list[Path]]:
        traces = tmp_path / "traces"
        traces.mkdir()
        plan = plan_for(str(tmp_path / "artifacts"), 5, 3600.0, traces)
        assert plan is not None
        async with async_playwright() as pw, open_browser(pw, "", traces) as browser:
            contexts = [await browser.new_context() for _ in range(2)]
            recorders = [TraceRecorder(c, plan) for c in contexts]
            pages = []
            for context, recorder in zip(contexts, recorders, strict=True):
                await recorder.start()
                page = await context.new_page()
                await page.goto(f"{sandbox.hub_url}/hub/login")  # same page, same resources
                pages.append(page)
            first = await recorders[0].stop(pages[0], "hub_start: a failure")
            second = await recorders[1].stop(pages[1], "hub_start: another failure")
            names = []
            for captured in (first, second):
                assert captured.raw_trace is not None, "a trace was lost"
                with zipfile.ZipFile(captured.raw_trace) as z:
                    names.append(sorted(n for n in z.namelist() if n.startswith("resources/")))
                captured.discard()
            left = [p for p in traces.rglob("*") if p.is_file()]
            for c in contexts:
                await c.close()
            return names[0], names[1], left

    first, second, left = asyncio.run(both())
    assert first and second and set(first) & set(second)  # they did share resources
    assert left == [], f"working files left behind: {left}"


def test_a_probe_killed_after_typing_the_password_left_none_of_it_and_is_swept_at_the_next_start(
    sandbox: Sandbox, prober: Prober, tmp_path: Path
) -> None:
    # The IdP holds the login POST: the password has been typed and sent when the probe dies.
    tmpdir = Path(tempfile.mkdtemp(prefix="lp-", dir="/tmp"))
    prober.tmpdirs.append(tmpdir)
    env = {
        **os.environ,
        **sandbox.probe_env(),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmpdir),
    }
    config = prober.config()
    before = int(sandbox.idp_counters().get("logins_received", 0))
    with sandbox.fault("login_hang", 60):
        proc = subprocess.Popen(
            ["probe", "--config", str(config), "run", "sandbox"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while int(sandbox.idp_counters().get("logins_received", 0)) <= before:
            assert proc.poll() is None and time.monotonic() < deadline, "the login never came"
            time.sleep(0.2)
        time.sleep(0.5)  # let Playwright write what it writes as the request goes out
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    left = sorted(p.name.rsplit("-", 1)[0] for p in tmpdir.glob("loginprobe-*"))
    assert "loginprobe-traces" in left and "loginprobe-browser" in left, left
    files = {str(p): p.read_bytes() for p in tmpdir.rglob("*") if p.is_file()}
    assert any(p.endswith(".network") for p in files), sorted(files)
    assert_no_leaks(files, {"test password": sandbox.password})

    # The next probe starts by removing what the killed one left.
    again = prober.run("run", "sandbox", "--json", config=config, env={"TMPDIR": str(tmpdir)})
    assert again.code == 0, again.stderr
    assert list(tmpdir.glob("loginprobe-*")) == []
