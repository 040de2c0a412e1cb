"""`probe test-alert`: a labelled event to PagerDuty and its resolve, to check the routing key."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from loginprobe import config as cfg
from loginprobe.cli.app import EXIT_FAILING, _die, _load, _location, _print_json, app, out
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
