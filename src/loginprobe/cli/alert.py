"""`probe test-alert`: a labelled event to PagerDuty and its resolve, to check the routing key."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from loginprobe import config as cfg
from loginprobe.cli.app import (
    EXIT_FAILING,
    EXIT_USAGE,
    _die,
    _load,
    _location,
    _print_json,
    app,
    out,
)
from loginprobe.redact import Redactor


@app.command("test-alert")
def test_alert(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Send a clearly labelled test event to PagerDuty and resolve it: checks the routing key."""
    from loginprobe.alerting.pagerduty import PagerDutySender, test_event

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
def outbox(
    action: Annotated[
        str, typer.Argument(help="list (the default), retry or drop", metavar="[list|retry|drop]")
    ] = "list",
    event_id: Annotated[
        int | None, typer.Argument(help="the event's id, for retry and drop", metavar="[ID]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """PagerDuty events waiting in the monitor's store, and those PagerDuty rejected (set aside
    for a human): list them, put one back in line (retry ID) or drop it (drop ID)."""
    import time

    from rich.table import Table

    from loginprobe.cli.store_views import _open_store_for_reading

    loaded = _load()
    if action not in ("list", "retry", "drop"):
        _die(f"unknown action {action!r}: use list, retry ID or drop ID")
    if action != "list" and event_id is None:
        _die(f"probe outbox {action} needs the event's id (see `probe outbox`)")
    store = _open_store_for_reading(loaded)
    if store is None:
        raise typer.Exit(EXIT_USAGE)
    try:
        if action == "retry":
            assert event_id is not None
            if not store.outbox.retry(event_id, time.time()):
                _die(f"no rejected event with id {event_id} (see `probe outbox`)")
            out.print(Text(f"event {event_id} is back in line; the monitor sends it next"))
            return
        if action == "drop":
            assert event_id is not None
            if not store.outbox.drop(event_id):
                _die(f"no rejected event with id {event_id} (see `probe outbox`)")
            out.print(Text(f"event {event_id} dropped"))
            return
        stats = store.outbox.stats(time.time())
        rejected = store.outbox.rejected()
    finally:
        store.close()
    rows = [
        {
            "id": e.id,
            "dedup_key": e.dedup_key,
            "event_action": e.event.get("event_action"),
            "summary": (e.event.get("payload") or {}).get("summary"),
            "pagerduty_said": e.last_error,
        }
        for e in rejected
    ]
    if as_json:
        _print_json(
            {
                "waiting": stats.depth,
                "oldest_waiting_age_s": round(stats.oldest_age_s, 1),
                "rejected": rows,
            }
        )
        return
    out.print(
        Text(
            f"{stats.depth} event(s) waiting for delivery"
            + (f", the oldest {stats.oldest_age_s:.0f}s old" if stats.depth else "")
            + f"; {len(rows)} rejected by PagerDuty"
        )
    )
    if rows:
        table = Table("id", "event", "dedup key", "PagerDuty said", title="rejected (set aside)")
        for r in rows:
            table.add_row(
                str(r["id"]),
                Text(str(r["event_action"])),
                Text(str(r["dedup_key"])),
                Text(str(r["pagerduty_said"] or "")),
            )
        out.print(table)
        out.print(Text("fix what PagerDuty objected to, then: probe outbox retry ID (or drop ID)"))
