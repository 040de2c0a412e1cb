"""The `probe` command.

Exit codes (DESIGN.md): 0 healthy, 1 the hub is failing, 2 usage/config error, 3 the probe itself broke.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import structlog
import typer
from playwright.async_api import async_playwright
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from loginprobe import config as cfg
from loginprobe.browser import BrowserNotFound, choose_executable, open_browser
from loginprobe.evidence import plan_for
from loginprobe.flows import available_flows, describe_flow, is_flow_file
from loginprobe.logs import configure_logging
from loginprobe.model import Code, ProbeResult
from loginprobe.probe import probe_hub, prober_failed
from loginprobe.redact import Redactor
from loginprobe.tables import LiveSteps

if TYPE_CHECKING:  # the monitor's modules load only for the commands that use them
    from loginprobe.incidents import Track
    from loginprobe.monitor import Settings
    from loginprobe.store import Store

EXIT_OK, EXIT_FAILING, EXIT_USAGE, EXIT_PROBE_ERROR = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Synthetic login monitor for JupyterHubs and other OAuth-protected web apps.",
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = structlog.get_logger("loginprobe")


class State:
    config_arg: str | None = None


def _die(lines: list[str] | str, code: int = EXIT_USAGE) -> NoReturn:
    for line in [lines] if isinstance(lines, str) else lines:
        err.print(Text(line))  # Text: no rich markup parsing of file paths or values
    raise typer.Exit(code)


def _load() -> cfg.LoadedConfig:
    try:
        return cfg.load(cfg.config_path(State.config_arg))
    except cfg.ConfigError as e:
        _die(e.lines)


@app.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="PATH",
            help=f"config file [default: ${cfg.CONFIG_ENV}, else ./{cfg.DEFAULT_CONFIG}]",
        ),
    ] = None,
) -> None:
    State.config_arg = config
    configure_logging(os.environ.get("LOGINPROBE_LOG_LEVEL", "warning"))


@app.command()
def check(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """Validate the config and check that every secret it names is present."""
    path = cfg.config_path(State.config_arg)
    try:
        loaded = cfg.load(path)
        cfg.resolve_secrets(loaded, loaded.config.hubs)
    except cfg.ConfigError as e:
        if as_json:
            _print_json({"config": str(path), "ok": False, "hubs": [], "problems": e.lines})
        _die(e.lines)
    if as_json:
        hubs = list(loaded.config.hubs)
        _print_json({"config": str(loaded.path), "ok": True, "hubs": hubs, "problems": []})
        return
    names = ", ".join(loaded.config.hubs)
    out.print(
        Text(f"{loaded.path}: OK — {len(loaded.config.hubs)} hub(s): {names}; every secret present")
    )


def _print_json(data: Any) -> None:
    """JSON on stdout, plain (no colour, no wrapping) whatever stdout is."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _open_store_for_reading(loaded: cfg.LoadedConfig) -> Store | None:
    """The monitor's store, or None with one line on stderr when there is none to read yet
    (a missing SQLite file is not created: that is `probe serve`'s job)."""
    from loginprobe.store import Store, StoreError, sqlite_file_missing

    url = loaded.config.monitor.state
    missing = sqlite_file_missing(url)
    if missing is not None:
        err.print(
            Text(
                f"{loaded.path}: monitor.state: no state store at {missing} yet "
                "(`probe serve` has not run with this config here): no probe history to show"
            )
        )
        return None
    try:
        return Store(url)
    except StoreError as e:
        err.print(Text(f"{loaded.path}: monitor.state: {e}: no probe history to show"))
        return None


@app.command("list")
def list_hubs(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """The configured hubs: verdict, last and next probe, open incidents (from the monitor's
    store, when there is one), and secret expiry."""
    from loginprobe.tables import list_rows, list_table

    loaded = _load()
    now = datetime.now(UTC)
    store = _open_store_for_reading(loaded)
    latest: dict[str, dict[str, Any] | None] = {}
    since: dict[str, str | None] = {}
    tracks: dict[str, Track] = {}
    if store is not None:
        try:
            tracks = store.tracks()
            for name in loaded.config.hubs:
                rows = store.history(name, 1)
                latest[name] = rows[0] if rows else None
                since[name] = store.since(name)
        finally:
            store.close()
    rows = list_rows(loaded.config, latest, tracks, now, since)
    if as_json:
        _print_json(rows)
        return
    out.print(list_table(rows, now))


@app.command()
def flows(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """List the login flows: those in probes/ and any flow file a hub in the config names."""
    refs: dict[str, list[str]] = {name: [] for name in sorted(available_flows())}
    try:  # the config is optional here: without one, the built-in flows are still listed
        hubs = cfg.load(cfg.config_path(State.config_arg)).config.hubs
    except cfg.ConfigError:
        hubs = {}
    for hub_name, hub in hubs.items():
        refs.setdefault(hub.flow, []).append(hub_name)
    rows: list[dict[str, Any]] = []
    for ref, used_by in refs.items():
        try:
            summary, options = describe_flow(ref)
        except LookupError as err:
            summary, options = f"cannot load: {err}", {}
        rows.append(
            {
                "name": ref,
                "file": is_flow_file(ref),
                "summary": summary,
                "options": options,
                "used_by": used_by,
            }
        )
    if as_json:
        _print_json(rows)
        return
    table = Table("flow", "what it logs in to", "options", "hubs")
    for r in rows:
        table.add_row(
            r["name"],
            r["summary"],
            "\n".join(f"{k}: {v}" for k, v in r["options"].items()),
            ", ".join(r["used_by"]),
        )
    out.print(table)


@app.command()
def run(
    hub: Annotated[str, typer.Argument(help="the hub's name in the config")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    alert: Annotated[
        bool, typer.Option("--alert", help="page PagerDuty if the hub is failing")
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="for flow_changed: the fields and buttons the flow saw, and why none fit",
        ),
    ] = False,
) -> None:
    """Probe one hub now: a real browser login, then a verdict."""
    loaded = _load()
    hubs = loaded.config.hubs
    if hub not in hubs:
        _die(f"{loaded.path}: no hub named {hub!r}; known hubs: {', '.join(sorted(hubs))}")
    try:
        secrets = cfg.resolve_secrets(loaded, [hub])[hub]
        routing_key = cfg.resolve_routing_key(loaded) if alert else None
    except cfg.ConfigError as e:
        _die(e.lines)
    if alert and routing_key is None:
        _die(f"{loaded.path}: --alert needs a [pagerduty] table with routing_key_env")
    redactor = Redactor([*secrets.values(), *([routing_key] if routing_key else [])])
    configure_logging(os.environ.get("LOGINPROBE_LOG_LEVEL", "warning"), redactor)
    live = not as_json and _live_terminal()
    result = asyncio.run(_run_once(loaded, hub, secrets, redactor, live=live))
    log.info("probe", hub=hub, verdict=str(result.verdict.code), ms=result.duration_ms)
    if as_json:
        sys.stdout.write(
            json.dumps(redactor.data(result.to_json()), indent=2, ensure_ascii=False) + "\n"
        )
    else:
        _print_human(result, redactor)
        if explain:
            _print_explain(result, hub, redactor)
    if alert and routing_key is not None:
        _page_once(loaded, routing_key, result, redactor)
    if result.verdict.code is Code.PROBE_ERROR:
        raise typer.Exit(EXIT_PROBE_ERROR)
    raise typer.Exit(EXIT_OK if result.verdict.ok else EXIT_FAILING)


def _page_once(
    loaded: cfg.LoadedConfig, routing_key: str, result: ProbeResult, redactor: Redactor
) -> None:
    """`run --alert`: trigger the hub's incident now if it is failing (a probe_error never pages
    as a hub outage; a healthy hub leaves open incidents to the monitor)."""
    from loginprobe.incidents import Action, login_key
    from loginprobe.paging import PagerDutySender, build_event

    if result.verdict.ok or result.verdict.code is Code.PROBE_ERROR:
        err.print(
            Text(
                "no page sent: "
                + ("the hub is healthy" if result.verdict.ok else "the prober failed, not the hub")
            )
        )
        return
    pd = loaded.config.pagerduty
    assert pd is not None
    action = Action("trigger", login_key(result.hub), result.verdict)
    event = redactor.data(
        build_event(
            action,
            result,
            hub_url=loaded.config.hubs[result.hub].url,
            location=_location(loaded),
            runbook_url=loaded.config.runbook(str(result.verdict.code)),
            public_url=loaded.config.monitor.public_url or "",
        )
    )
    sender = PagerDutySender(
        routing_key, pd.events_url, str(loaded.file(pd.ca_file)) if pd.ca_file else None
    )
    try:
        delivery = sender.send(event)
    finally:
        sender.close()
    if delivery.outcome == "accepted":
        err.print(Text(f"paged PagerDuty: {action.dedup_key}"))
    else:
        _die(
            redactor.text(
                f"PagerDuty did not take the page ({delivery.outcome}, "
                f"HTTP {delivery.status}): {delivery.message}"
            ),
            EXIT_PROBE_ERROR,
        )


def _location(loaded: cfg.LoadedConfig) -> str:
    return loaded.config.monitor.location or socket.gethostname()


@app.command()
def serve() -> None:
    """Run the monitor: scheduled probes, PagerDuty pages, the status page, /healthz, /metrics."""
    from loginprobe.monitor import Settings
    from loginprobe.store import Store, StoreError

    path = cfg.config_path(State.config_arg)
    try:
        settings = Settings.load(path)
        choose_executable(settings.loaded.config.browser.executable, _playwright_chromium())
        store = Store(settings.loaded.config.monitor.state)
    except cfg.ConfigError as e:
        _die(e.lines)
    except (BrowserNotFound, StoreError) as e:
        _die(f"{path}: {e}")
    configure_logging(os.environ.get("LOGINPROBE_LOG_LEVEL", "info"), settings.redactor)
    try:
        asyncio.run(_serve(path, settings, store))
    except OSError as e:  # the listen address is taken or not ours
        _die(f"{path}: monitor.listen {settings.loaded.config.monitor.listen}: {e.strerror}")
    finally:
        store.close()


def _playwright_chromium() -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        return pw.chromium.executable_path


async def _serve(path: Path, settings: Settings, store: Store) -> None:
    from loginprobe.metrics import Metrics
    from loginprobe.monitor import Monitor
    from loginprobe.web import make_app, start_site

    monitor = Monitor(settings, store, Metrics())
    host, port = settings.loaded.config.monitor.listen_address
    runner = await start_site(make_app(monitor), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: monitor.reload(path))
    await monitor.start()
    log.info(
        "listening",
        address=f"http://{host}:{port}",
        endpoints=["/", "/api/status", "/healthz", "/metrics"],
    )
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await monitor.stop()
        await runner.cleanup()


@app.command("test-alert")
def test_alert(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Send a clearly labelled test event to PagerDuty and resolve it: checks the routing key."""
    from loginprobe.paging import PagerDutySender, test_event

    loaded = _load()
    try:
        routing_key = cfg.resolve_routing_key(loaded)
    except cfg.ConfigError as e:
        _die(e.lines)
    pd = loaded.config.pagerduty
    if pd is None or routing_key is None:
        _die(f"{loaded.path}: no [pagerduty] table: nothing to test")
    event = test_event(_location(loaded))
    sender = PagerDutySender(
        routing_key, pd.events_url, str(loaded.file(pd.ca_file)) if pd.ca_file else None
    )
    redactor = Redactor([routing_key])
    report: dict[str, Any] = {
        "events_url": pd.events_url,
        "dedup_key": event["dedup_key"],
        "ok": True,
        "events": [],
    }
    try:
        for step in (event, {"event_action": "resolve", "dedup_key": event["dedup_key"]}):
            delivery = sender.send(step)
            report["events"].append(
                {
                    "event_action": step["event_action"],
                    "outcome": delivery.outcome,
                    "http_status": delivery.status,
                    "message": redactor.text(delivery.message),
                }
            )
            if delivery.outcome != "accepted":
                if as_json:
                    _print_json({**report, "ok": False})
                _die(
                    f"PagerDuty did not accept the test {step['event_action']} "
                    f"(HTTP {delivery.status or 'no answer'}): "
                    f"{redactor.text(delivery.message)}",
                    EXIT_FAILING,
                )
            if as_json:
                continue
            out.print(
                Text(
                    f"{step['event_action']}: accepted by {pd.events_url} "
                    f"(dedup key {event['dedup_key']})"
                )
            )
    finally:
        sender.close()
    if as_json:
        _print_json(report)


@app.command()
def history(
    hub: Annotated[str, typer.Argument(help="the hub's name in the config")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="how many probes", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Recent verdicts of one hub, newest first, with per-step timings, from the monitor's store."""
    from loginprobe.tables import history_table

    loaded = _load()
    if hub not in loaded.config.hubs:
        _die(
            f"{loaded.path}: no hub named {hub!r}; known hubs: "
            f"{', '.join(sorted(loaded.config.hubs))}"
        )
    store = _open_store_for_reading(loaded)
    rows: list[dict[str, Any]] = []
    if store is not None:
        try:
            rows = store.history(hub, limit)
        finally:
            store.close()
    if as_json:
        _print_json(rows)
        return
    out.print(history_table(hub, rows, datetime.now(UTC)))


def _live_terminal() -> bool:
    """A person is watching: stdout is a terminal that can redraw lines (not a pipe, not dumb)."""
    return sys.stdout.isatty() and out.is_terminal and not out.is_dumb_terminal


async def _run_once(
    loaded: cfg.LoadedConfig,
    hub: str,
    secrets: cfg.HubSecrets,
    redactor: Redactor,
    live: bool = False,
) -> ProbeResult:
    spec = loaded.config.hubs[hub]
    m = loaded.config.monitor
    started_at, t0 = datetime.now(UTC), time.monotonic()
    steps = LiveSteps(hub) if live else None
    try:
        # Transient: the display goes away and the usual step table takes its place.
        with (
            tempfile.TemporaryDirectory(prefix="loginprobe-traces-") as traces,
            Live(console=out, transient=True, refresh_per_second=10, get_renderable=steps.render)
            if steps is not None
            else contextlib.nullcontext(),
        ):
            plan = plan_for(m.artifacts_dir, m.artifacts_keep, m.artifacts_max_age, Path(traces))
            async with (
                async_playwright() as pw,
                open_browser(pw, loaded.config.browser.executable, Path(traces)) as b,
            ):
                return await probe_hub(
                    b,
                    hub,
                    spec,
                    secrets,
                    timeout=loaded.config.hub_timeout(hub),
                    redactor=redactor,
                    evidence=plan,
                    progress=steps,
                )
    except Exception as e:  # no browser, or the prober broke: a probe_error, never a hub outage
        log.debug("probe crashed", hub=hub, exc_info=True)
        return prober_failed(hub, spec, e, redactor, started_at, t0)


_STATUS_STYLE = {"ok": "green", "failed": "bold red", "timeout": "bold yellow"}


def _print_human(result: ProbeResult, redactor: Redactor) -> None:
    table = Table("step", "status", "http", "ms", title=f"probe {result.hub}", title_justify="left")
    table.add_column("url / detail", overflow="fold")
    for s in result.observation.steps:
        where = s.url + (f"\n{s.detail}" if s.detail else "")
        table.add_row(
            s.name,
            Text(s.status, style=_STATUS_STYLE.get(s.status, "")),
            str(s.http_status or ""),
            str(s.ms),
            Text(redactor.text(where)),
        )
    if result.observation.steps:
        out.print(table)
    sc = result.observation.secret_check
    if sc is not None:
        out.print(
            Text(
                f"secret check: {sc.outcome} — {redactor.text(sc.detail)} "
                f"[{redactor.text(sc.evidence)}]"
            )
        )
    v = result.verdict
    style = "bold green" if v.ok else ("bold yellow" if v.severity == "warning" else "bold red")
    out.print(Text(f"{v.code}: ", style=style) + Text(redactor.text(v.summary)))
    ev = result.evidence
    if ev is not None:
        out.print(Text(f"evidence: {ev.dir}"))
        if ev.trace:
            out.print(Text(f"trace:    playwright show-trace {shlex.quote(ev.trace)}"))


def _print_explain(result: ProbeResult, hub: str, redactor: Redactor) -> None:
    failure = result.observation.failure
    if failure is None or not failure.seen:
        out.print(Text("explain: nothing to explain (the flow recorded no page it could not read)"))
        return
    out.print(Text(f"what the flow saw at {failure.url or failure.step}:", style="bold"))
    for line in failure.seen:
        out.print(Text(f"  {redactor.text(line)}"))
    out.print(
        Text(
            f"fix: name the elements in [hubs.{hub}.selectors] (username, password, submit, "
            'consent: CSS selectors), or give the hub a flow file of its own (flow = "flows/x.py")'
        )
    )


def main() -> None:
    app()
