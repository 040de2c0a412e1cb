"""`probe report`: each hub's availability over a window, for a monthly review (a table, JSON or
CSV). Read from the store's hourly rollup with one aggregate query, whatever the fleet's size."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from loginprobe.cli.app import _die, _load, _print_json, app, out
from loginprobe.cli.store_views import _open_store_for_reading
from loginprobe.config.schema import parse_duration
from loginprobe.history.availability import HOUR_S, Availability, percent, window_start_hour
from loginprobe.web.status import iso

CSV_COLUMNS = (
    "hub",
    "availability_percent",
    "up_s",
    "down_s",
    "probe_error_s",
    "silenced_s",
    "no_data_s",
    "from",
    "to",
)


def report_rows(
    hubs: list[str], found: Mapping[str, Availability], window_s: float
) -> list[dict[str, Any]]:
    """One row per hub, in the order given (Availability.to_json's keys and the hub's name);
    a hub the store knows nothing of has no data at all."""
    return [
        {"hub": name, **found.get(name, Availability(window_s=window_s)).to_json()} for name in hubs
    ]


def fleet_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """All hubs together: every hub's time summed, so a hub down for an hour weighs an hour."""
    total = Availability(
        sum(r["up_s"] for r in rows),
        sum(r["down_s"] for r in rows),
        sum(r["probe_error_s"] for r in rows),
        sum(r["silenced_s"] for r in rows),
        sum(r["window_s"] for r in rows),
    )
    return {"hub": "all hubs", **total.to_json()}


def span(seconds: float) -> str:
    """ "3d 4h", "2h 05m", "12m", "0m": how long, to the minute."""
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def report_table(rows: list[dict[str, Any]], fleet: dict[str, Any], title: str) -> Table:
    table = Table(title=title, title_justify="left", show_footer=len(rows) > 1)
    columns = (
        ("hub", "hub"),
        ("availability", "availability"),
        ("down", "down_s"),
        ("probe_error", "probe_error_s"),
        ("silenced", "silenced_s"),
        ("no data", "no_data_s"),
    )
    for i, (label, key) in enumerate(columns):
        footer = fleet["hub"] if key == "hub" else _cell(fleet, key)
        table.add_column(label, justify="left" if i == 0 else "right", footer=footer)
    for r in rows:
        ratio = r["availability"]
        table.add_row(
            r["hub"],
            *[
                Text(
                    _cell(r, key),
                    style="bold red"
                    if key == "availability" and ratio is not None and ratio < 0.99
                    else "",
                )
                for _, key in columns[1:]
            ],
        )
    return table


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "availability":
        return percent(row["availability"], 3)
    return span(row[key])


def report_csv(rows: list[dict[str, Any]], start: str, end: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        ratio = r["availability"]
        writer.writerow(
            [
                r["hub"],
                "" if ratio is None else f"{ratio * 100:.4f}",
                *(f"{r[k]:.0f}" for k in CSV_COLUMNS[2:7]),
                start,
                end,
            ]
        )
    return buffer.getvalue()


@app.command()
def report(
    since: Annotated[
        str, typer.Option("--since", help="how far back, e.g. 30d, 7d, 24h", metavar="DURATION")
    ] = "30d",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV output (a spreadsheet's)")] = False,
) -> None:
    """Each hub's availability over a window: the share of time it could be logged in to
    (probe_error and silenced time not counted), its downtime and the time without data."""
    loaded = _load()
    try:
        window_s = parse_duration(since)
    except ValueError as e:
        _die(f"--since: {e}")
    if as_json and as_csv:
        _die("--json and --csv: choose one")
    now = datetime.now(UTC)
    store = _open_store_for_reading(loaded)
    found: dict[str, Availability] = {}
    if store is not None:
        try:
            found = {
                hub: windows[since]
                for hub, windows in store.availability(now.timestamp(), {since: window_s}).items()
            }
        finally:
            store.close()
    # Windows are counted in whole hours back (the current one as far as it has gone).
    first = window_start_hour(now.timestamp(), window_s) * HOUR_S
    rows = report_rows(list(loaded.config.hubs), found, now.timestamp() - first)
    start = iso(datetime.fromtimestamp(first, UTC)) or ""
    end = iso(now) or ""
    if as_csv:
        sys.stdout.write(report_csv(rows, start, end))
        return
    fleet = fleet_row(rows)
    if as_json:
        _print_json(
            {
                "from": start,
                "to": end,
                "window_s": round(now.timestamp() - first, 1),
                "hubs": rows,
                "all": fleet,
            }
        )
        return
    out.print(report_table(rows, fleet, f"availability {start} .. {end} (UTC)"))
