"""The hub page's pictures as SVG: login time over a window with the slowest step shaded, an
availability strip (a cell per hour, coloured by its worst verdict), an incident timeline.

Pure: numbers in, markup out; no JavaScript. Colours come from classes the page's CSS defines
(light and dark). Each mark carries its numbers (data-* attributes and a <title> a pointer shows),
so tests and people can check the picture against the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from loginprobe.history.availability import HOUR_S, rank
from loginprobe.history.incidents import Incident
from loginprobe.history.login_times import LoginTimes

WIDTH = 640
FONT = 13


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def utc(t: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(t, UTC).strftime(fmt)


def seconds_text(ms: float) -> str:
    """1234 ms -> "1.2 s"; under a second in ms."""
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{round(ms)} ms"


def axis_text(ms: float) -> str:
    """An axis' label, exact: 1250 ms -> "1.25 s", 500 -> "500 ms"."""
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def duration_text(seconds: float) -> str:
    """How long, to the second under 2 minutes: "45s", "12m", "3h 05m", "2d 4h"."""
    s = round(seconds)
    if s < 120:
        return f"{s}s"
    minutes = round(s / 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def nice_ceiling(value: float) -> float:
    """The axis' top: the smallest of 1, 2, 2.5, 5 x 10^k at or above `value` (at least 100)."""
    top = 100.0
    while top < value:
        top = _next_nice(top)
    return top


def _next_nice(top: float) -> float:
    exponent = float(10 ** (len(str(int(top))) - 1))
    lead = top / exponent
    for step in (1.0, 2.0, 2.5, 5.0):
        if step > lead + 1e-9:
            return step * exponent
    return 10.0 * exponent


# -- login time ---------------------------------------------------------------------------------

LT_HEIGHT = 190
LT_LEFT, LT_RIGHT, LT_TOP, LT_BOTTOM = 66, 632, 12, 160


def login_chart(lt: LoginTimes, label: str) -> str:
    """The median login time per bucket as a line, the slowest step's part of it shaded below;
    gaps where no probe logged in. `label`: what the window is ("last 24 h")."""
    top = nice_ceiling(lt.max_ms)
    n = len(lt.buckets)
    step_x = (LT_RIGHT - LT_LEFT) / max(1, n)

    def x(i: int) -> float:
        return round(LT_LEFT + (i + 0.5) * step_x, 2)

    def y(ms: float) -> float:
        return round(LT_BOTTOM - ms / top * (LT_BOTTOM - LT_TOP), 2)

    lines, bands, runs = [], [], []
    run: list[int] = []
    for i, b in enumerate(lt.buckets):
        if b.median_ms is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(i)
    if run:
        runs.append(run)
    for r in runs:
        line = " ".join(f"{x(i)},{y(lt.buckets[i].median_ms or 0)}" for i in r)
        lines.append(f'<polyline class="lt-line" points="{line}"/>')
        if lt.slowest_step:
            edge = [f"{x(i)},{y(lt.buckets[i].slowest_ms or 0)}" for i in r]
            base = [f"{x(i)},{LT_BOTTOM}" for i in reversed(r)]
            if len(r) == 1:  # a lone bucket: a bar one bucket wide
                i = r[0]
                h = LT_BOTTOM - y(lt.buckets[i].slowest_ms or 0)
                bands.append(
                    f'<rect class="lt-slowest" x="{x(i) - step_x / 2:.2f}" '
                    f'y="{y(lt.buckets[i].slowest_ms or 0)}" width="{step_x:.2f}" '
                    f'height="{h:.2f}"/>'
                )
            else:
                bands.append(f'<polygon class="lt-slowest" points="{" ".join(edge + base)}"/>')
    hits = []
    for i, b in enumerate(lt.buckets):
        if b.median_ms is None:
            continue
        tip = (
            f"{utc(b.start)} to {utc(b.end, '%H:%M')} UTC: login {seconds_text(b.median_ms)} "
            f"(median of {b.probes})"
            + (f", {lt.slowest_step} {seconds_text(b.slowest_ms or 0)}" if lt.slowest_step else "")
        )
        hits.append(
            f'<rect class="lt-bucket" x="{x(i) - step_x / 2:.2f}" y="{LT_TOP}" '
            f'width="{step_x:.2f}" height="{LT_BOTTOM - LT_TOP}" data-start="{_e(utc(b.start))}" '
            f'data-ms="{b.median_ms}" data-slowest-ms="{b.slowest_ms or 0}" '
            f'data-probes="{b.probes}"><title>{_e(tip)}</title></rect>'
        )
    grid = []
    for frac in (0, 0.5, 1):
        gy = y(top * frac)
        grid.append(
            f'<line class="grid" x1="{LT_LEFT}" x2="{LT_RIGHT}" y1="{gy}" y2="{gy}"/>'
            f'<text class="axis" x="{LT_LEFT - 6}" y="{gy + 4}" text-anchor="end">'
            f"{_e(axis_text(top * frac) if frac else '0')}</text>"
        )
    ticks = _time_ticks(lt.start, lt.end, LT_LEFT, LT_RIGHT, LT_BOTTOM + 18)
    title = f"Login time, {label}" + (
        f": median {seconds_text(lt.median_ms)}" if lt.median_ms is not None else ": no data"
    )
    return (
        f'<svg class="chart login-time" viewBox="0 0 {WIDTH} {LT_HEIGHT}" role="img" '
        f'aria-label="{_e(title)}" data-max-ms="{top:g}" data-slowest-step="{_e(lt.slowest_step or "")}" '
        f'data-median-ms="{lt.median_ms if lt.median_ms is not None else ""}" '
        f'font-size="{FONT}"><title>{_e(title)}</title>'
        + "".join(grid)
        + "".join(bands)
        + "".join(lines)
        + "".join(hits)
        + ticks
        + "</svg>"
    )


def _time_ticks(start: float, end: float, left: float, right: float, y: float) -> str:
    span = end - start
    fmt = "%H:%M" if span <= 2 * 86400 else "%a %d"
    out = []
    for frac, anchor in ((0, "start"), (0.5, "middle"), (1, "end")):
        t = start + span * frac
        xt = left + (right - left) * frac
        shown = "now" if frac == 1 else utc(t, fmt)
        out.append(
            f'<text class="axis" x="{xt:.1f}" y="{y}" text-anchor="{anchor}">{_e(shown)}</text>'
        )
    return "".join(out)


# -- the availability strip ------------------------------------------------------------------

CELL_W, CELL_H, GAP, LABEL_W, HEAD_H = 22, 18, 2, 70, 18
_CELL_CLASS = {0: "none", 1: "ok", 2: "prober", 3: "warning", 4: "down"}


def cell_class(row: Mapping[str, Any] | None) -> str:
    """An hour's colour: its worst verdict; an hour without a probe start but with time credited
    to it (a probe of the hour before spoke for it) the worst kind of that time; else no data."""
    if not row:
        return "none"
    worst = rank(row.get("worst"))
    if row.get("down_s"):
        worst = max(worst, 4 if not row.get("worst") else worst)
    elif not row.get("worst"):
        worst = 1 if row.get("up_s") else 2 if row.get("prober_s") else 0
    return _CELL_CLASS[worst]


def strip(hours: Sequence[Mapping[str, Any]], now: float, days: int = 7) -> str:
    """A row per UTC day (oldest on top), a cell per hour, up to the hour `now` is in."""
    by_hour = {int(r["hour"]): r for r in hours}
    today = int(now // 86400)
    last = int(now // HOUR_S)
    height = HEAD_H + days * (CELL_H + GAP)
    out = []
    for h in range(0, 24, 6):
        out.append(
            f'<text class="axis" x="{LABEL_W + h * (CELL_W + GAP)}" y="{HEAD_H - 5}">'
            f"{h:02d}:00</text>"
        )
    for row in range(days):
        day = today - days + 1 + row
        y = HEAD_H + row * (CELL_H + GAP)
        out.append(
            f'<text class="axis" x="0" y="{y + CELL_H - 4}">{_e(utc(day * 86400, "%a %d"))}</text>'
        )
        for h in range(24):
            hour = day * 24 + h
            if hour > last:
                break
            r = by_hour.get(hour)
            cls = cell_class(r)
            probes = int(r["probes"]) if r else 0
            tip = f"{utc(hour * HOUR_S)} UTC: " + (
                f"worst {r.get('worst') or '—'}, {probes} probe{'s' if probes != 1 else ''}"
                + (f", down {duration_text(r['down_s'])}" if r and r.get("down_s") else "")
                if r
                else "no data"
            )
            out.append(
                f'<rect class="cell {cls}" x="{LABEL_W + h * (CELL_W + GAP)}" y="{y}" '
                f'width="{CELL_W}" height="{CELL_H}" rx="2" data-hour="{_e(utc(hour * HOUR_S))}" '
                f'data-worst="{_e((r or {}).get("worst") or "")}" data-probes="{probes}">'
                f"<title>{_e(tip)}</title></rect>"
            )
    width = LABEL_W + 24 * (CELL_W + GAP)
    return (
        f'<svg class="chart strip" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="availability by hour, last {days} days" font-size="{FONT}">'
        f"<title>Each hour of the last {days} days, coloured by its worst verdict</title>"
        + "".join(out)
        + "</svg>"
    )


# -- the incident timeline -------------------------------------------------------------------

TL_HEIGHT, TL_LEFT, TL_RIGHT, TL_Y, TL_BAR = 64, 8, 632, 10, 22


def timeline(incidents: Sequence[Incident], start: float, end: float) -> str:
    """The window as a line; each incident a bar from its first failing probe to its first ok
    (to now while it lasts), with a tick where it paged."""
    span = end - start

    def x(t: float) -> float:
        return round(TL_LEFT + (min(max(t, start), end) - start) / span * (TL_RIGHT - TL_LEFT), 2)

    out = [
        f'<line class="grid" x1="{TL_LEFT}" x2="{TL_RIGHT}" y1="{TL_Y + TL_BAR / 2}" '
        f'y2="{TL_Y + TL_BAR / 2}"/>'
    ]
    for n, inc in enumerate(incidents, 1):
        stop = inc.ended_at if inc.ended_at is not None else end
        x0, x1 = x(inc.started_at), x(stop)
        width = max(2.0, x1 - x0)
        tip = (
            f"#{n} {' → '.join(inc.codes)}: from {utc(inc.started_at)} UTC for "
            f"{duration_text(stop - inc.started_at)}"
            + ("" if inc.ended_at is not None else " (ongoing)")
            + f", paged after {duration_text(inc.time_to_page_s)}"
        )
        cls = "down" if inc.severity == "critical" else "warning"
        out.append(
            f'<rect class="incident-bar {cls}" x="{x0}" y="{TL_Y}" width="{width:.2f}" '
            f'height="{TL_BAR}" data-n="{n}" data-cause="{_e(inc.cause)}" '
            f'data-start="{inc.started_at}" data-end="{stop}" '
            f'data-time-to-page="{inc.time_to_page_s:.1f}"><title>{_e(tip)}</title></rect>'
            f'<line class="paged" x1="{x(inc.paged_at)}" x2="{x(inc.paged_at)}" '
            f'y1="{TL_Y - 4}" y2="{TL_Y + TL_BAR + 4}"/>'
        )
    out.append(_time_ticks(start, end, TL_LEFT, TL_RIGHT, TL_Y + TL_BAR + 22))
    return (
        f'<svg class="chart timeline" viewBox="0 0 {WIDTH} {TL_HEIGHT}" role="img" '
        f'aria-label="incidents, {len(incidents)}" font-size="{FONT}">'
        f"<title>Incidents: {len(incidents)}</title>" + "".join(out) + "</svg>"
    )
