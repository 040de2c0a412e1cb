"""Warnings before an OAuth client secret expires (declared with `[hubs.NAME.oauth] secret_expires`).

Pure. A warning fires once as each lead time is reached (default 30, 14, 7 and 1 days before), as one
PagerDuty incident per hub (`loginprobe/<hub>/expiry`) that is updated at each stage: severity
`warning`, `error` inside the last 7 days. It resolves when the date leaves the window: the secret
was rotated and the config updated. Past the date while the secret check still accepts the secret,
it says the date in the config is wrong.
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
    def code(self) -> str:
        """The verdict class: secret_expiring / tls_expiring, with the stage for the tracker."""
        return f"{self.kind}_expiring:{self.stage}"


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


def step_expiry(
    track: Track, notice: ExpiryNotice | None, key: str, now_iso: str
) -> tuple[Track, list[Action]]:
    """One page per stage reached; resolve when out of the window."""
    if notice is None:
        if track.is_open:
            return Track(), [Action("resolve", key, reason="rotated")]
        return track, []
    if track.open_code == notice.code:
        return track, []
    reason = "changed" if track.is_open else "opened"
    opened = track.opened_at if track.is_open else now_iso
    return replace(track, open_code=notice.code, opened_at=opened), [
        Action("trigger", key, reason=reason, notice=notice)
    ]
