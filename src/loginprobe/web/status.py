"""Where each hub stands: the data behind the status page, /api/status and `probe list`.

Pure: the store's history rows, the incident tracks and the expiry dates go in, plain JSON-able
dicts come out (keys may be added, never renamed). Gathering the inputs is the caller's job (web.py
from the running monitor, cli.py from the store), so both show the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from loginprobe.history.availability import WINDOWS, Availability
from loginprobe.monitor.tracks.login import settled
from loginprobe.monitor.tracks.prober import PROBER_KEY, prober_key
from loginprobe.monitor.tracks.shared import Fleet, covered_by, is_held, seen_from, sharing
from loginprobe.monitor.tracks.track import Thresholds, Track

RECENT_PROBES = 10
# Where a hub stands, most urgent first: the order the status page lists them in.
ATTENTION = ("failing", "warning", "waiting", "healthy")
EXPIRY_WARNING_DAYS = 30


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat(timespec="seconds") if when else None


def relative(when: datetime | None, now: datetime) -> str:
    """ "3m ago", "in 12s", "now": how a person reads a time on a status page."""
    if when is None:
        return "—"
    seconds = round((when - now).total_seconds())
    if seconds == 0:
        return "now"
    n = abs(seconds)
    if n < 90:
        amount = f"{n}s"
    elif n < 90 * 60:
        amount = f"{round(n / 60)}m"
    elif n < 36 * 3600:
        amount = f"{n / 3600:.1f}h".replace(".0h", "h")
    else:
        amount = f"{round(n / 86400)}d"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def estimate_next_probe(
    last_started_at: str | None,
    track: Track,
    thresholds: Thresholds,
    interval: float,
    retry_after_failure: float,
) -> datetime | None:
    """When `probe serve` will probe again, read from the store alone (for `probe list`): the
    monitor schedules start to start, `retry_after_failure` after a failure and until an incident
    has resolved, else `interval` (monitor.py, _probe_job)."""
    last = parse_time(last_started_at)
    if last is None:
        return None
    period = interval if settled(track, thresholds) else retry_after_failure
    return last + timedelta(seconds=period)


def hub_incidents(
    hub: str, tracks: Mapping[str, Track], fleet: Fleet | None = None
) -> list[dict[str, Any]]:
    """The hub's open incidents (login, secret expiry, TLS, its probes failing on our side), each
    with the concern and the dedup key PagerDuty holds it under (e.g. loginprobe/<hub>/expiry/7d).
    With the `fleet`: the shared incident that covers the hub (its IdP's, the prober's network),
    and its own pages held back say by what ("login, covered by the cilogon incident")."""
    prefix = f"loginprobe/{hub}/"
    mine = {k: k.removeprefix(prefix) for k in tracks if k.startswith(prefix)}
    mine[prober_key(hub)] = "prober"
    out: list[dict[str, Any]] = []
    for key, concern in sorted(mine.items()):
        t = tracks.get(key)
        if t is None or not t.is_open:
            continue
        held = is_held(tracks, t.open_key or key)
        why = covered_by(hub, tracks, fleet) if held and fleet is not None else None
        out.append(
            {
                "key": t.open_key or key,
                "concern": concern + (f", {why}" if why else ", held back" if held else ""),
                "code": t.open_code,
                "opened_at": t.opened_at,
                "failures": t.failures,
                "held": held,
            }
        )
    shared = sharing(hub, tracks, fleet) if fleet is not None else None
    if shared is not None:
        out.insert(0, shared)
    return out


def prober_incident(tracks: Mapping[str, Track]) -> dict[str, Any] | None:
    t = tracks.get(PROBER_KEY)
    if t is None or not t.is_open:
        return None
    return {
        "key": PROBER_KEY,
        "code": t.open_code,
        "opened_at": t.opened_at,
        "failures": t.failures,
    }


def public_evidence(evidence: object) -> dict[str, Any] | None:
    """A stored result's evidence as /api/status shows it: its place under /artifacts/, never
    the server's own paths."""
    if not isinstance(evidence, dict) or not isinstance(evidence.get("ref"), str):
        return None
    ref = evidence["ref"]
    out: dict[str, Any] = {"ref": ref}
    for label in ("screenshot", "html", "trace"):
        path = evidence.get(label)
        out[label] = (
            f"/artifacts/{ref}/{path.rsplit('/', 1)[-1]}" if isinstance(path, str) else None
        )
    return out


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """A Store.history row for the status page and /api/status."""
    return {**row, "evidence": public_evidence(row.get("evidence"))}


def hub_status(
    name: str,
    *,
    url: str,
    recent: list[dict[str, Any]],
    since: str | None,
    tracks: Mapping[str, Track],
    now: datetime,
    next_probe_at: datetime | None = None,
    probing: bool = False,
    last_failure: dict[str, Any] | None = None,
    secret_expires: date | None = None,
    secret_expires_source: str = "config",
    certificates: Mapping[str, datetime] | None = None,
    availability: Mapping[str, Availability] | None = None,
    fleet: Fleet | None = None,
    replica: str | None = None,
) -> dict[str, Any]:
    """One hub. `replica`: the `probe serve` replica that probes it now (None: none holds it). `recent` and `last_failure` are Store.history rows, newest first;
    `availability`: Store.availability's windows for the hub (24h, 7d, 30d). `fleet`: the hubs'
    groups and the silences in force (its group, what covers it)."""
    latest = recent[0] if recent else None
    silenced = (fleet.silenced or {}).get(name) if fleet is not None else None
    hub: dict[str, Any] = {
        "hub": name,
        "url": url,
        "group": fleet.groups.get(name) if fleet is not None else None,
        "covered_by": covered_by(name, tracks, fleet) if fleet is not None else None,
        "silenced_until": iso(datetime.fromtimestamp(silenced, UTC)) if silenced else None,
        "verdict": (
            {k: latest[k] for k in ("code", "severity", "summary", "step")} if latest else None
        ),
        "since": since,
        "last_probe_at": latest["started_at"] if latest else None,
        "next_probe_at": iso(next_probe_at),
        "probing": probing,
        "replica": replica,
        # With a quorum across locations: what each location saw at its latest probe.
        "seen_from": [x.to_json() for x in seen_from(name, fleet)],
        "incidents": hub_incidents(name, tracks, fleet),
        "secret_expiry": (
            {
                "date": secret_expires.isoformat(),
                "days_left": (secret_expires - now.date()).days,
                "source": secret_expires_source,
            }
            if secret_expires
            else None
        ),
        "certificates": [
            {
                "host": host,
                "expires_at": iso(not_after),
                "days_left": (not_after - now).days,
            }
            for host, not_after in sorted((certificates or {}).items())
        ],
        "last_failure": last_failure,
        "recent": recent,
        "availability": availability_json(availability),
    }
    hub["attention"] = attention(hub)
    return hub


def availability_json(windows: Mapping[str, Availability] | None) -> dict[str, Any]:
    """{"24h": {"availability": 0.9993, "up_s": ..., "down_s": ..., ...}, "7d": ..., "30d": ...}
    (history/availability.py says what counts); every window null without a store."""
    return {
        name: windows[name].to_json() if windows and name in windows else None for name in WINDOWS
    }


def attention(hub: Mapping[str, Any]) -> str:
    """How urgently a hub (hub_status) needs a person: "failing" (an outage: a critical verdict),
    "warning" (any other verdict than ok — the test account, a changed login page, the prober —,
    an open incident, or a secret or certificate expiring within EXPIRY_WARNING_DAYS), "waiting"
    (not probed yet), else "healthy"."""
    verdict = hub.get("verdict")
    if verdict and verdict.get("code") != "ok" and verdict.get("severity") == "critical":
        return "failing"
    days = [c.get("days_left") for c in hub.get("certificates") or []]
    days.append((hub.get("secret_expiry") or {}).get("days_left"))
    if (
        (verdict and verdict.get("code") != "ok")
        or hub.get("incidents")
        or any(d is not None and d <= EXPIRY_WARNING_DAYS for d in days)
    ):
        return "warning"
    return "healthy" if verdict else "waiting"


def status_document(
    hubs: list[dict[str, Any]],
    *,
    now: datetime,
    tracks: Mapping[str, Track],
    location: str = "",
    health: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the status page shows; /api/status serves it as it is."""
    failing = [h["hub"] for h in hubs if h["verdict"] and h["verdict"]["code"] != "ok"]
    return {
        "generated_at": iso(now),
        "location": location,
        "monitor": {
            "status": health.get("status") if health else None,
            "problems": list(health.get("problems", [])) if health else [],
            "capacity": health.get("capacity") if health else None,
        },
        "failing": failing,
        "counts": {a: sum(1 for h in hubs if h.get("attention") == a) for a in ATTENTION},
        "incidents_open": sorted(
            k for k, t in tracks.items() if t.is_open and not is_held(tracks, t.open_key or k)
        ),
        "prober_incident": prober_incident(tracks),
        "hubs": hubs,
    }
