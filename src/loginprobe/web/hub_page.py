"""One hub's page (/hub/NAME): its availability, and its past as pictures — login time over 24 h
and 7 d with the slowest step shaded, an hour-by-hour strip of the last week, the incident timeline.

Pure: a HubView in, a self-contained HTML page out (inline CSS and SVG, no JavaScript, readable on a
phone). Every value is escaped: summaries quote what hubs and IdPs said.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loginprobe.history.availability import WINDOWS, Availability, percent
from loginprobe.history.incidents import Timeline
from loginprobe.history.login_times import LoginTimes
from loginprobe.web import charts
from loginprobe.web.escaping import e as _e

REFRESH_S = 60

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;
--ok:#1a7f37;--warning:#9a6700;--down:#cf222e;--prober:#8250df;--none:#eaeef2;--info:#0969da;
--shade:#0969da33}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;
--card:#151b23;--line:#3d444d;--ok:#3fb950;--warning:#d29922;--down:#f85149;--prober:#ab7df8;
--none:#262c36;--info:#4493f8;--shade:#4493f844}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:64rem;padding:.75rem;font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.05rem;margin:0 0 .3rem}
a{color:var(--info)}.lead,.note{color:var(--muted);margin:.2rem 0 .6rem}.note{font-size:.85rem}
section{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.8rem;
margin:0 0 .9rem}
.avail{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;margin:.3rem 0}
.avail div{display:flex;flex-direction:column}.avail b{font-size:1.4rem;
font-variant-numeric:tabular-nums}.avail b.low{color:var(--down)}.avail span{color:var(--muted)}
svg.chart{display:block;width:100%;height:auto;margin:.3rem 0}
svg .axis{fill:var(--muted)}svg .grid{stroke:var(--line);stroke-width:1}
svg .lt-line{fill:none;stroke:var(--info);stroke-width:2;stroke-linejoin:round}
svg .lt-slowest{fill:var(--shade)}svg .lt-bucket{fill:transparent}
svg .cell.ok{fill:var(--ok)}svg .cell.down,svg .incident-bar.down{fill:var(--down)}
svg .cell.warning,svg .incident-bar.warning{fill:var(--warning)}svg .cell.prober{fill:var(--prober)}
svg .cell.none{fill:var(--none)}svg .paged{stroke:var(--fg);stroke-width:2}
.legend{display:flex;flex-wrap:wrap;gap:.2rem .9rem;font-size:.85rem;color:var(--muted)}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;
vertical-align:-1px}
.k-ok{background:var(--ok)}.k-down{background:var(--down)}.k-warning{background:var(--warning)}
.k-prober{background:var(--prober)}.k-none{background:var(--none);border:1px solid var(--line)}
.k-line{background:var(--info);height:.2rem!important}.k-shade{background:var(--shade)}
@media (max-width:40rem){svg .axis{font-size:20px}svg.strip .axis{font-size:15px}}
ol.incidents{padding-left:1.4rem;margin:.4rem 0}ol.incidents li{margin:.2rem 0}
code{font-size:.9em}
"""


@dataclass(frozen=True)
class HubView:
    hub: str
    url: str
    now: float
    verdict: Mapping[str, Any] | None  # the latest Store.history row
    availability: Mapping[str, Availability]  # by window name (24h, 7d, 30d)
    day: LoginTimes
    week: LoginTimes
    hours: Sequence[Mapping[str, Any]]  # Store.hours rows of the week
    incidents: Timeline
    incidents_from: float


def _availability(view: HubView) -> str:
    cells = []
    for name in WINDOWS:
        a = view.availability.get(name)
        ratio = a.ratio if a else None
        low = ' class="low"' if ratio is not None and ratio < 0.99 else ""
        down = f", down {charts.duration_text(a.down_s)}" if a and a.down_s else ""
        cells.append(
            f'<div data-window="{name}" data-availability="{"" if ratio is None else ratio}">'
            f"<b{low}>{_e(percent(ratio))}</b><span>last {name}{_e(down)}</span></div>"
        )
    return f'<div class="avail">{"".join(cells)}</div>'


def _login(lt: LoginTimes, label: str) -> str:
    if lt.median_ms is None:
        return f'<h2>Login time, {_e(label)}</h2><p class="note">No probe logged in.</p>'
    slowest = (
        f"; slowest step <code>{_e(lt.slowest_step)}</code>, median "
        f"{_e(charts.seconds_text(lt.slowest_median_ms or 0))} (shaded)"
        if lt.slowest_step
        else ""
    )
    return (
        f"<h2>Login time, {_e(label)}</h2>"
        f'<p class="note">median {_e(charts.seconds_text(lt.median_ms))}{slowest}</p>'
        + charts.login_chart(lt, label)
    )


def _incident_list(view: HubView) -> str:
    items = []
    for n, inc in enumerate(view.incidents.incidents, 1):
        how_long = charts.duration_text(inc.duration_s(view.now))
        items.append(
            f'<li data-n="{n}" data-cause="{_e(inc.cause)}"><b>{_e(" → ".join(inc.codes))}</b> '
            f"from {_e(charts.utc(inc.started_at))} UTC, "
            + (f"lasted {_e(how_long)}" if inc.ended_at is not None else f"ongoing ({how_long})")
            + f", paged after {_e(charts.duration_text(inc.time_to_page_s))}</li>"
        )
    blips = view.incidents.blips
    note = (
        f'<p class="note">{blips} shorter run{"s" if blips != 1 else ""} of failures did not '
        "page (fewer failing probes in a row than failures_to_alert).</p>"
        if blips
        else ""
    )
    listed = f'<ol class="incidents">{"".join(items)}</ol>' if items else ""
    return listed + note


def render(view: HubView, refresh_s: int = REFRESH_S) -> str:
    v = view.verdict
    url = view.url
    name = _e(view.hub)
    title = f'<a href="{_e(url)}">{name}</a>' if url.startswith(("https://", "http://")) else name
    now_text = charts.utc(view.now, "%Y-%m-%d %H:%M:%S")
    count = len(view.incidents.incidents)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">'
        f"<title>{name} · loginprobe</title><style>{_CSS}</style></head><body>"
        f'<p class="note"><a href="../">← all hubs</a></p>'
        f'<header><h1 data-hub="{name}">{title}</h1>'
        + (
            f'<p class="lead"><b data-code="{_e(v.get("code"))}">{_e(v.get("code"))}</b>: '
            f"{_e(v.get('summary'))}</p>"
            if v
            else '<p class="lead">Not probed yet.</p>'
        )
        + "</header>"
        + '<section class="availability"><h2>Availability</h2>'
        + _availability(view)
        + charts.strip(view.hours, view.now)
        + '<div class="legend"><span><i class="k-ok"></i>ok</span>'
        '<span><i class="k-warning"></i>warning (test account, login page changed)</span>'
        '<span><i class="k-down"></i>down</span><span><i class="k-prober"></i>prober failed '
        '(not counted)</span><span><i class="k-none"></i>no data</span></div>'
        '<p class="note">The share of time the test account could log in: each probe speaks '
        "for the time until the next (at most 15 minutes); the prober's own failures "
        "(probe_error) and time without probes are not counted. Each cell is an hour (UTC), "
        "coloured by its worst verdict.</p></section>"
        + '<section class="login-times">'
        + _login(view.day, "last 24 h")
        + _login(view.week, "last 7 days")
        + '<div class="legend"><span><i class="k-line"></i>median login time</span>'
        '<span><i class="k-shade"></i>the slowest step\'s part</span></div></section>'
        + f'<section class="incident-timeline"><h2>Incidents, last 7 days: {count}</h2>'
        + charts.timeline(view.incidents.incidents, view.incidents_from, view.now)
        + _incident_list(view)
        + '<p class="note">Replayed from the verdicts with the monitor\'s thresholds: from the '
        "first failing probe to the first ok one; paged when the probe that opened the incident "
        "ended (the black tick).</p></section>"
        + f'<footer class="note">updated {_e(now_text)} UTC, every {int(refresh_s)}s · '
        f'<a href="../api/status">api/status</a></footer></body></html>\n'
    )
