"""`probe list` and `probe history`: what the monitor's store holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from loginprobe import config as cfg
from loginprobe.cli.app import _die, _load, _print_json, app, err, out
from loginprobe.cli.printable import shown

if TYPE_CHECKING:
    from loginprobe.history.availability import Availability
    from loginprobe.monitor.silences import Silence
    from loginprobe.monitor.tracks.shared import Fleet, Sighting
    from loginprobe.monitor.tracks.track import Track
    from loginprobe.store import Store


def _open_store_for_reading(loaded: cfg.LoadedConfig) -> Store | None:
    """The monitor's store, or None with one line on stderr when there is none to read yet
    (a missing SQLite file is not created: that is `probe serve`'s job)."""
    from loginprobe.store import Store, StoreError, sqlite_file_missing

    url = loaded.config.monitor.state
    missing = sqlite_file_missing(url)
    if missing is not None:
        err.print(
            shown(
                f"{loaded.path}: monitor.state: no state store at {missing} yet "
                "(`probe serve` has not run with this config here): no probe history to show"
            )
        )
        return None
    try:
        return Store(url, check_pages=False)
    except StoreError as e:
        # A store that is there but cannot be read is not "no history": say so, and stop.
        _die(f"{loaded.path}: monitor.state: {e}")


def _read_failed(loaded: cfg.LoadedConfig, e: Exception) -> NoReturn:
    from loginprobe.store.url import store_error_reason

    reason = store_error_reason(e, loaded.config.monitor.state)
    _die(f"{loaded.path}: monitor.state: cannot read the state store: {reason}")


def config_fleet(loaded: cfg.LoadedConfig, silences: list[Silence], now: datetime) -> Fleet:
    """The hubs' groups (from the config: `probe list` has no probe of its own to look at) and
    the silences in force."""
    from loginprobe.monitor.groups import hub_groups, url_host
    from loginprobe.monitor.silences import active, parse_window
    from loginprobe.monitor.tracks.shared import Fleet

    hubs = loaded.config.hubs
    maintenance = {h: [parse_window(w) for w in spec.maintenance] for h, spec in hubs.items()}
    return Fleet(
        groups=hub_groups(hubs, {}),
        hosts={h: url_host(spec.url) or h for h, spec in hubs.items()},
        group_min_hubs=loaded.config.monitor.group_min_hubs,
        silenced=active(silences, maintenance, now.timestamp()),
        quorum=loaded.config.monitor.quorum,
        location=loaded.config.monitor.location,
    )


@app.command("list")
def list_hubs(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """The configured hubs: verdict, last and next probe, open incidents, availability over 24 h,
    7 d and 30 d (from the monitor's store, when there is one), and secret expiry."""
    from loginprobe.cli.fleet_table import FleetTable
    from loginprobe.cli.tables import list_rows, list_table

    loaded = _load(import_flows=False)  # the store's rows need no flow: `probe check` checks them
    now = datetime.now(UTC)
    store = _open_store_for_reading(loaded)
    latest: dict[str, dict[str, Any] | None] = {}
    since: dict[str, str | None] = {}
    tracks: dict[str, Track] = {}
    availability: dict[str, dict[str, Availability]] = {}
    silences: list[Silence] = []
    replicas: dict[str, str] = {}
    sightings: dict[str, list[Sighting]] = {}
    locations: frozenset[str] = frozenset()
    if store is not None:
        try:
            tracks = store.tracks()
            if loaded.config.monitor.quorum > 1:
                sightings = store.sightings.all()
                locations = frozenset(r.location for r in store.replicas.live(now.timestamp()))
            replicas = {
                hub: lease.holder
                for hub, lease in store.leases.hubs().items()
                if lease.expires_at > now.timestamp()
            }
            silences = store.silences.current(now.timestamp())
            availability = store.availability(now.timestamp())
            for name, past in store.fleet_history(
                list(loaded.config.hubs), 1, last_failures=False
            ).items():
                latest[name] = past.recent[0] if past.recent else None
                since[name] = past.since
        except (SQLAlchemyError, ValueError) as e:
            _read_failed(loaded, e)
        finally:
            store.close()
    fleet = replace(
        config_fleet(loaded, silences, now),
        sightings=sightings,
        locations=locations,
        now=now.timestamp(),
    )
    rows = list_rows(loaded.config, latest, tracks, now, since, availability, fleet, replicas)
    if as_json:
        _print_json(rows)
        return
    out.print(FleetTable(list_table(rows, now)))


@app.command()
def history(
    hub: Annotated[str, typer.Argument(help="the hub's name in the config")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="how many probes", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Recent verdicts of one hub, newest first, with per-step timings, from the monitor's store."""
    from loginprobe.cli.tables import history_table

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
        except (SQLAlchemyError, ValueError) as e:
            _read_failed(loaded, e)
        finally:
            store.close()
    if as_json:
        _print_json(rows)
        return
    out.print(history_table(hub, rows, datetime.now(UTC)))
