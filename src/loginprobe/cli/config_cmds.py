"""`probe check` and `probe flows`: what the config says, before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from loginprobe import config as cfg
from loginprobe.cli.app import State, _die, _print_json, app, out
from loginprobe.prober.registry import available_flows, describe_flow, is_flow_file

if TYPE_CHECKING:
    from loginprobe.monitor.capacity import Capacity


@app.command()
def check(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """Validate the config and check that every secret it names is present."""
    path = cfg.config_path(State.config_arg)
    try:
        loaded = cfg.load(path)
        cfg.resolve_secrets(loaded, loaded.config.hubs)
        cfg.resolve_heartbeat_url(loaded)
    except cfg.ConfigError as e:
        if as_json:
            _print_json({"config": str(path), "ok": False, "hubs": [], "problems": e.lines})
        _die(e.lines)
    capacity = _capacity(loaded.config)
    if as_json:
        hubs = list(loaded.config.hubs)
        _print_json(
            {
                "config": str(loaded.path),
                "ok": True,
                "hubs": hubs,
                "problems": [],
                "capacity": capacity.to_json(),
            }
        )
        return
    names = ", ".join(loaded.config.hubs)
    out.print(
        Text(f"{loaded.path}: OK — {len(loaded.config.hubs)} hub(s): {names}; every secret present")
    )
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
            r["name"],
            r["summary"],
            "\n".join(f"{k}: {v}" for k, v in r["options"].items()),
            ", ".join(r["used_by"]),
        )
    out.print(table)
