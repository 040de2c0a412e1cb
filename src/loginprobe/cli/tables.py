"""What the CLI shows people: `probe list` and `probe history` rows (their `--json` output; keys
added, never renamed) and the rich tables made of them, and `probe run`'s live step display.

Pure builders: the config, the store's rows and the tracks go in, rows and renderables come out.
The CLI does the reading and the printing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from loginprobe.cli.printable import shown
from loginprobe.config import Config
from loginprobe.history.availability import WINDOWS, Availability, percent
from loginprobe.model import Step
from loginprobe.monitor.tracks.login import login_key
from loginprobe.monitor.tracks.shared import Fleet, covered_by, seen_from, seen_from_text
from loginprobe.monitor.tracks.track import Thresholds, Track
from loginprobe.web.status import (
    availability_json,
    estimate_next_probe,
    hub_incidents,
    iso,
    parse_time,
    relative,
)

_VERDICT_STYLE = {"ok": "green", "warning": "yellow", "info": "green"}


def _verdict_style(code: str | None, severity: str | None) -> str:
    if code is None:
        return "dim"
    return "green" if code == "ok" else _VERDICT_STYLE.get(severity or "", "bold red")


def when(value: str | None, now: datetime) -> str:
    """ "18:59:45 (3m ago)"; a date too when it is not today (UTC)."""
    t = parse_time(value)
    if t is None:
        return "—"
    shown = t.strftime("%H:%M:%S" if t.date() == now.date() else "%Y-%m-%d %H:%M")
    return f"{shown} ({relative(t, now)})"


def list_rows(
    config: Config,
    latest: Mapping[str, dict[str, Any] | None],
    tracks: Mapping[str, Track],
    now: datetime,
    since: Mapping[str, str | None] | None = None,
    availability: Mapping[str, Mapping[str, Availability]] | None = None,
    fleet: Fleet | None = None,
    replicas: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per configured hub. `replicas`: hub -> the `probe serve` replica holding its lease
    (absent: none holds it now). `latest`: each hub's newest Store.history row (None: never
    probed, or no store). "next probe" is estimated from the store the way the monitor schedules:
    the last probe's start plus `interval`, or `retry_after_failure` while failing or until an
    incident has resolved."""
    m = config.monitor
    thresholds = Thresholds(m.failures_to_alert, m.successes_to_resolve)
    today = now.date()
    rows: list[dict[str, Any]] = []
    for name, h in config.hubs.items():
        expires: date | None = h.oauth.secret_expires if h.oauth else None
        last = latest.get(name)
        track = tracks.get(login_key(name), Track())
        incidents = hub_incidents(name, tracks, fleet)
        nxt = estimate_next_probe(
            last["started_at"] if last else None,
            track,
            thresholds,
            h.interval or m.interval,
            m.retry_after_failure,
        )
        rows.append(
            {
                "hub": name,
                "url": h.url,
                "flow": h.flow,
                "group": fleet.groups.get(name) if fleet is not None else None,
                "covered_by": covered_by(name, tracks, fleet),
                "secret_check": h.oauth is not None,
                "timeout_s": config.hub_timeout(name),
                "secret_expires": expires.isoformat() if expires else None,
                "secret_days_left": (expires - today).days if expires else None,
                "verdict": last["code"] if last else None,
                "severity": last["severity"] if last else None,
                "summary": last["summary"] if last else None,
                "since": (since or {}).get(name),
                "last_probe_at": last["started_at"] if last else None,
                "last_duration_ms": last["duration_ms"] if last else None,
                "next_probe_at": iso(nxt),
                "incident": track.open_code if track.is_open else None,
                "incidents": incidents,
                "availability": availability_json((availability or {}).get(name)),
                "replica": (replicas or {}).get(name),
                # With a quorum across locations: what each location saw at its latest probe.
                "seen_from": [x.to_json() for x in seen_from(name, fleet)],
            }
        )
    return rows


def availability_text(windows: Mapping[str, Any]) -> Text:
    """ "100% · 99.9% · 98.7%" (24 h, 7 d, 30 d), each red below 99%."""
    text = Text()
    for i, name in enumerate(WINDOWS):
        if i:
            text.append(" · ", style="dim")
        ratio = (windows.get(name) or {}).get("availability")
        text.append(
            percent(ratio, 1), style="bold red" if ratio is not None and ratio < 0.99 else ""
        )
    return text


def list_table(rows: list[dict[str, Any]], now: datetime) -> Table:
    table = Table()
    table.add_column("hub", no_wrap=True)
    table.add_column("group", no_wrap=True)
    replicas = any(r.get("replica") for r in rows)
    if replicas:  # which `probe serve` replica probes the hub (when any runs)
        table.add_column("replica", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    locations = any(r.get("seen_from") for r in rows)
    if locations:  # with a quorum across locations
        table.add_column("seen from")
    table.add_column("last probe")
    table.add_column("next probe", no_wrap=True)
    table.add_column("incident", overflow="fold")
    table.add_column("up 24h · 7d · 30d", no_wrap=True)
    table.add_column("secret expires")
    table.add_column("url", overflow="fold")
    for r in rows:
        left = r["secret_days_left"]
        expiry = (
            "—"
            if left is None
            else (
                f"{r['secret_expires']} ({left} days)"
                if left >= 0
                else f"{r['secret_expires']} (past)"
            )
        )
        nxt = parse_time(r["next_probe_at"])
        if nxt is None:
            next_shown = "—"
        elif nxt < now:
            # The store says a probe is due: the monitor is not running, or is busy.
            next_shown = f"due {relative(nxt, now)}"
        else:
            next_shown = relative(nxt, now)
        incidents = ", ".join(f"{i['code']} ({i['concern']})" for i in r["incidents"]) or "—"
        table.add_row(
            shown(r["hub"]),
            shown(r.get("group") or "—"),
            *([shown(r.get("replica") or "none")] if replicas else []),
            shown(r["verdict"] or "not probed", style=_verdict_style(r["verdict"], r["severity"])),
            *([shown(seen_from_text(r.get("seen_from") or []) or "—")] if locations else []),
            shown(when(r["last_probe_at"], now)),
            shown(next_shown),
            shown(incidents, style="bold red" if r["incidents"] else ""),
            availability_text(r["availability"]),
            shown(expiry),
            shown(r["url"]),
        )
    return table


def steps_text(steps: list[dict[str, Any]]) -> Text:
    """ "hub_start 244 · hub_login 282 · …" with the failing step in red."""
    text = Text()
    for i, s in enumerate(steps):
        if i:
            text.append(" · ", style="dim")
        style = "" if s.get("status") == "ok" else "bold red"
        text.append(shown(f"{s.get('name')}:{s.get('ms')}", style=style))
    return text


def history_table(hub: str, rows: list[dict[str, Any]], now: datetime) -> Table:
    table = Table(title=shown(f"history {hub}"), title_justify="left")
    table.add_column("started")
    table.add_column("verdict", no_wrap=True)
    table.add_column("ms", justify="right")
    table.add_column("steps (ms)", overflow="fold")
    table.add_column("summary", overflow="fold")
    for r in rows:
        table.add_row(
            shown(when(r["started_at"], now)),
            shown(r["code"], style=_verdict_style(r["code"], r["severity"])),
            shown(r["duration_ms"]),
            steps_text(r.get("steps") or []),
            shown(r["summary"]),
        )
    return table


class LiveSteps:
    """`probe run`'s live display on a terminal: the steps done (with ms) and the one running
    (with its elapsed time). Fed by the journey's progress callback, drawn by rich.Live."""

    def __init__(self, hub: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.hub, self.clock = hub, clock
        self.started = clock()
        self.done: list[Step] = []
        self.current: tuple[str, float] | None = None

    def __call__(self, name: str, step: Step | None) -> None:
        if step is None:
            self.current = (name, self.clock())
            return
        self.done.append(step)
        if self.current is not None and self.current[0] == name:
            self.current = None

    def render(self) -> RenderableType:
        lines: list[RenderableType] = [Text(f"probe {self.hub}", style="bold")]
        for s in self.done:
            mark, style = ("✓", "green") if s.status == "ok" else ("✗", "bold red")
            lines.append(
                Text.assemble(
                    (f"  {mark} ", style),
                    shown(f"{s.name:<16}"),
                    (f"{s.ms:>6} ms", "cyan"),
                    (f"  {s.http_status or ''}", "dim"),
                )
            )
        now = self.clock()
        if self.current is not None:
            name, since = self.current
            label = Text.assemble(shown(f"{name:<16}", "bold"), (f"{now - since:>6.1f} s", "cyan"))
        else:
            label = Text(f"{'starting Chromium' if not self.done else 'finishing'}…")
        running = Table.grid(padding=(0, 1))
        running.add_row(Text(" "), Spinner("dots", style="yellow"), label)
        lines.append(running)
        return Group(*lines)
