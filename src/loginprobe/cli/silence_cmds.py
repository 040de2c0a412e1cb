"""`probe silence`, `probe silences`, `probe unsilence`: a hub's (or a group's IdP's) outages page
nobody for a while, e.g. during a deploy. Written to the monitor's store; a running `probe serve`
reads them within a second."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from loginprobe import config as cfg
from loginprobe.cli.app import _die, _load, _print_json, app, out

if TYPE_CHECKING:
    from loginprobe.store import Store


def _store(loaded: cfg.LoadedConfig) -> Store:
    from loginprobe.store import Store, StoreError

    try:
        return Store(loaded.config.monitor.state)
    except StoreError as e:
        _die(f"{loaded.path}: monitor.state: {e}")


def known_targets(loaded: cfg.LoadedConfig, store: Store) -> tuple[list[str], list[str]]:
    """The hubs of the config, and the groups known from it or from the monitor's incidents."""
    from loginprobe.monitor.groups import hub_groups

    groups = set(hub_groups(loaded.config.hubs, {}).values())
    groups |= {
        k.removeprefix("loginprobe/idp/").removesuffix("/login")
        for k in store.tracks()
        if k.startswith("loginprobe/idp/")
    }
    return sorted(loaded.config.hubs), sorted(groups)


def check_target(target: str, hubs: list[str], groups: list[str], where: str) -> None:
    if target.startswith("idp:"):
        if target[4:] not in groups:
            _die(
                f"{where}: no group named {target[4:]!r}; known groups: "
                f"{', '.join(groups) or 'none yet'}"
            )
    elif target not in hubs:
        _die(
            f"{where}: no hub named {target!r} (a group is idp:GROUP); known hubs: "
            f"{', '.join(hubs)}"
        )


@app.command()
def silence(
    target: Annotated[str, typer.Argument(help="a hub's name, or idp:GROUP for a group's IdP")],
    reason: Annotated[str, typer.Option("--reason", help="why, e.g. the deploy's name")],
    for_: Annotated[
        str | None, typer.Option("--for", help='how long from now, e.g. "30m", "2h"')
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help='until when: "2026-12-01T14:30Z" or "14:30" (UTC)'),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="who (default: user@host)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Page nobody about TARGET's outages for a while: probes go on and are recorded, an open
    incident stays open, and if it still fails when the silence ends, it pages then."""
    from loginprobe.monitor.silences import Silence, parse_until

    loaded = _load()
    now = time.time()
    if (for_ is None) == (until is None):
        _die("probe silence: give one of --for (e.g. --for 30m) or --until (e.g. --until 14:30)")
    try:
        ends = now + cfg.parse_duration(for_) if for_ is not None else parse_until(until or "", now)
    except ValueError as e:
        _die(f"probe silence: --{'for' if for_ is not None else 'until'}: {e}")
    if ends <= now:
        _die(f"probe silence: --until: {until!r} is in the past")
    if not reason.strip():
        _die("probe silence: --reason must say why (e.g. the deploy's name)")
    store = _store(loaded)
    try:
        hubs, groups = known_targets(loaded, store)
        check_target(target, hubs, groups, f"{loaded.path}")
        import getpass  # here: a name is needed only when none was given

        who = by or f"{getpass.getuser()}@{socket.gethostname()}"
        s = store.silences.add(Silence(target, now, ends, reason.strip(), who))
    finally:
        store.close()
    if as_json:
        _print_json(s.to_json())
        return
    out.print(Text(f"silenced {target} until {_shown(s.until)} (id {s.id}): {s.reason}"))


@app.command("silences")
def list_silences(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """The silences in force or to come (`probe silence`) and the hubs' maintenance windows."""
    loaded = _load()
    store = _store(loaded)
    try:
        current = store.silences.current(time.time())
    finally:
        store.close()
    windows = {h: spec.maintenance for h, spec in loaded.config.hubs.items() if spec.maintenance}
    if as_json:
        _print_json({"silences": [s.to_json() for s in current], "maintenance": windows})
        return
    table = Table()
    for col in ("id", "target", "from", "until", "by", "reason"):
        table.add_column(col, overflow="fold")
    for s in current:
        table.add_row(
            str(s.id), s.target, _shown(s.starts), _shown(s.until), s.created_by, Text(s.reason)
        )
    for hub, ws in windows.items():
        table.add_row("—", hub, "every week", ", ".join(ws), "config", "maintenance")
    if not current and not windows:
        out.print("no silences")
        return
    out.print(table)


@app.command()
def unsilence(
    target: Annotated[str, typer.Argument(help="a hub, idp:GROUP, or a silence's id")],
) -> None:
    """End TARGET's silences now (a hub still failing then pages at its next probe)."""
    loaded = _load()
    store = _store(loaded)
    try:
        ended = store.silences.end(target, time.time())
    finally:
        store.close()
    if not ended:
        _die(f"probe unsilence: no silence in force for {target!r} (`probe silences` lists them)")
    out.print(Text(f"ended {ended} silence{'s' if ended != 1 else ''} of {target}"))


def _shown(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")
