"""`probe check` and `probe flows`: what the config says, before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from loginprobe import config as cfg
from loginprobe.cli.app import State, _die, _print_json, app, out
from loginprobe.cli.printable import shown
from loginprobe.prober.registry import available_flows, describe_flow, is_flow_file

if TYPE_CHECKING:
    from loginprobe.monitor.capacity import Capacity


@app.command()
def check(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """Check everything `probe serve` checks at start: the config, every secret it names, the
    routing key, the flows, the browser, the store and the listen address."""
    from loginprobe.cli.serve import _playwright_chromium
    from loginprobe.preflight import preflight

    path = cfg.config_path(State.config_arg)
    try:
        loaded = cfg.load(path)
    except cfg.ConfigError as e:
        if as_json:
            _print_json({"config": str(path), "ok": False, "hubs": [], "problems": e.lines})
        _die(e.lines)
    found = preflight(loaded, _playwright_chromium)
    hubs = list(loaded.config.hubs)
    capacity = _capacity(loaded.config)
    if as_json:
        _print_json(
            {
                "config": str(loaded.path),
                "ok": not found.problems,
                "hubs": hubs,
                "problems": found.problems,
                "notes": found.notes,
                "sandbox": found.sandbox,
                "capacity": capacity.to_json(),
            }
        )
    if found.problems:
        _die([] if as_json else found.problems)
    if as_json:
        return
    out.print(
        Text(
            f"{loaded.path}: OK — {len(hubs)} hub(s): {', '.join(hubs)}; every secret present, "
            "flows, browser, store and listen address ready"
        )
    )
    for note in found.notes:
        out.print(shown(f"note: {note}"))
    out.print(Text(f"capacity: {capacity.line()}"))


def _capacity(config: cfg.Config) -> Capacity:
    """The estimate, from what `probe serve` measured on this store if it ever ran, else from
    loginprobe's benchmark figures."""
    from loginprobe.monitor.capacity import COSTS_KEY, estimate
    from loginprobe.store.store import peek_meta

    costs = peek_meta(config.monitor.state, COSTS_KEY)
    if isinstance(costs, dict):
        return estimate(config, costs.get("wall_s"), costs.get("cpu_s"), costs.get("cpus"))
    return estimate(config)


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
            shown(r["name"]),
            shown(r["summary"]),
            shown("\n".join(f"{k}: {v}" for k, v in r["options"].items())),
            shown(", ".join(r["used_by"])),
        )
    out.print(table)
