"""Warnings before an OAuth client secret expires (declared with `[hubs.NAME.oauth] secret_expires`).

Pure. A warning fires once as each lead time is reached (default 30, 14, 7 and 1 days before):
severity `warning`, `error` inside the last 7 days. Each stage is its own PagerDuty incident
(`loginprobe/<hub>/expiry/14d`, `.../7d`, ..., `.../expired`), opened before the previous stage's is
resolved: PagerDuty notifies nobody of a trigger on a key it holds open (an acknowledged 30-day
warning would swallow the 1-day `error`), so every stage must reach a person. It resolves when the
date leaves the window: the secret was rotated and the config updated. Past the date while the
secret check still accepts the secret, it says the date in the config is wrong. TLS certificates
work the same way (`loginprobe/<hub>/tls/7d`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time

from loginprobe.model import Severity
from loginprobe.monitor.tracks.track import Action, Track

DEFAULT_LEAD_DAYS = (30, 14, 7, 1)
ESCALATE_DAYS = 7


def expiry_key(hub: str) -> str:
    return f"loginprobe/{hub}/expiry"


def tls_key(hub: str) -> str:
    return f"loginprobe/{hub}/tls"


@dataclass(frozen=True)
class ExpiryNotice:
    hub: str
    expires: date
    days_left: float
    stage: int  # the lead time reached (e.g. 14), or 0 once the date has passed
    severity: Severity
    summary: str
    kind: str = "secret"  # "secret" (OAuth client secret) or "tls" (a certificate)

    @property
    def stage_name(self) -> str:
        """The stage in a dedup key: "14d", "expired", or "past-date" (the date passed but the
        secret still works: a different message, so its own incident)."""
        if self.stage:
            return f"{self.stage}d"
        return "expired" if self.severity is Severity.ERROR else "past-date"

    @property
    def code(self) -> str:
        """The verdict class: secret_expiring / tls_expiring, with the stage for the tracker."""
        stage = "past-date" if self.stage_name == "past-date" else self.stage
        return f"{self.kind}_expiring:{stage}"


def _stage(days_left: float, lead_days: tuple[int, ...]) -> int | None:
    reached = [d for d in lead_days if days_left <= d]
    return min(reached) if reached else None


def _when(days_left: float) -> str:
    whole = int(days_left) if days_left >= 1 else 0
    return f"in {whole} day{'s' if whole != 1 else ''}" if whole else "within a day"


def tls_notice(
    hub: str,
    host: str,
    not_after: datetime,
    now: datetime,
    lead_days: tuple[int, ...] = DEFAULT_LEAD_DAYS,
) -> ExpiryNotice | None:
    """A certificate that expires soon (the browser reports one already expired as unreachable)."""
    days_left = (not_after - now).total_seconds() / 86400
    stage = 0 if days_left <= 0 else _stage(days_left, lead_days)
    if stage is None:
        return None
    severity = Severity.ERROR if days_left <= ESCALATE_DAYS else Severity.WARNING
    when = "has expired" if days_left <= 0 else f"expires {_when(days_left)}"
    return ExpiryNotice(
        hub,
        not_after.date(),
        days_left,
        stage,
        severity,
        f"{hub}: the TLS certificate of {host} {when} (on {not_after.date()}) — renew it",
        kind="tls",
    )


def expiry_notice(
    hub: str,
    expires: date,
    now: datetime,
    lead_days: tuple[int, ...] = DEFAULT_LEAD_DAYS,
    secret_accepted: bool | None = None,
) -> ExpiryNotice | None:
    """What to say about a secret expiring on `expires` (at 00:00 UTC), or None outside the window.

    `secret_accepted`: the latest secret check's opinion (True valid, False rejected, None unknown).
    """
    at = datetime.combine(expires, time(0), tzinfo=UTC)
    days_left = (at - now).total_seconds() / 86400
    if days_left <= 0:
        if secret_accepted:
            return ExpiryNotice(
                hub,
                expires,
                days_left,
                0,
                Severity.WARNING,
                f"{hub}: the OAuth client secret should have expired on {expires} but the token "
                "endpoint still accepts it — the date in the config is wrong (fix "
                "[hubs.NAME.oauth] secret_expires)",
            )
        return ExpiryNotice(
            hub,
            expires,
            days_left,
            0,
            Severity.ERROR,
            f"{hub}: the OAuth client secret expired on {expires} — rotate it, deploy it to the "
            "hub and update secret_expires",
        )
    stage = _stage(days_left, lead_days)
    if stage is None:
        return None
    when = _when(days_left)
    severity = Severity.ERROR if days_left <= ESCALATE_DAYS else Severity.WARNING
    return ExpiryNotice(
        hub,
        expires,
        days_left,
        stage,
        severity,
        f"{hub}: the OAuth client secret expires {when} (on {expires}) — rotate it, deploy it "
        "to the hub and update secret_expires before every login fails",
    )


def advance_expiry(
    track: Track, notice: ExpiryNotice | None, key: str, now_iso: str
) -> tuple[Track, list[Action]]:
    """One incident per stage reached (`key`/<stage>), the previous stage resolved after the new
    one is open; resolve when out of the window."""
    if notice is None:
        if track.is_open:
            return Track(), [Action("resolve", track.open_key or key, reason="rotated")]
        return track, []
    if track.open_code == notice.code:
        return track, []
    stage_key = f"{key}/{notice.stage_name}"
    opened = track.opened_at if track.is_open else now_iso
    moved = replace(track, open_code=notice.code, opened_at=opened, open_key=stage_key)
    if not track.is_open:
        return moved, [Action("trigger", stage_key, reason="opened", notice=notice)]
    was = track.open_key or key
    if was == stage_key:  # the same stage, reworded (e.g. the code of an older store)
        return moved, [Action("trigger", stage_key, reason="changed", notice=notice)]
    return moved, [
        Action("trigger", stage_key, reason="escalated", notice=notice),
        Action("resolve", was, reason="superseded"),
    ]
