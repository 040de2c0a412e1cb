"""The values that flow through loginprobe: steps, observations, secret-check results, verdicts.

All frozen: a probe produces them, the pure core reads them, nothing mutates them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

StepStatus = Literal["ok", "failed", "timeout"]


class Code(StrEnum):
    """Verdict codes (DESIGN.md, "Verdict codes"). Dashboards key on these strings."""

    OK = "ok"
    HUB_UNREACHABLE = "hub_unreachable"
    HUB_ERROR = "hub_error"
    IDP_UNREACHABLE = "idp_unreachable"
    IDP_ERROR = "idp_error"
    LOGIN_REJECTED = "login_rejected"
    CALLBACK_ERROR = "callback_error"
    CLIENT_SECRET_EXPIRED = "client_secret_expired"
    CLIENT_SECRET_INVALID = "client_secret_invalid"
    ACCESS_DENIED = "access_denied"
    FLOW_CHANGED = "flow_changed"
    TIMEOUT = "timeout"
    PROBE_ERROR = "probe_error"


class Severity(StrEnum):
    """PagerDuty's severities."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Step:
    """One step of a login journey, as a person watching the browser would name it."""

    name: str
    status: StepStatus
    http_status: int | None = None
    url: str = ""  # already redacted: no secrets in query strings
    ms: int = 0
    detail: str = ""  # what went wrong, in words (a network error, the IdP's message)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FailureKind(StrEnum):
    """How a journey stopped short of the hub's landing page."""

    NETWORK = "network"  # DNS, connection refused, TLS: the page never arrived
    HTTP = "http"  # a page arrived with a 4xx/5xx status
    IDP_ERROR = "idp_error"  # the IdP showed an error page
    LOGIN_REJECTED = "login_rejected"  # the IdP refused the test account
    FLOW_CHANGED = "flow_changed"  # an expected element never appeared
    TIMEOUT = "timeout"  # the probe's time ran out
    PROBE_ERROR = "probe_error"  # the prober itself broke


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    step: str
    detail: str = ""
    http_status: int | None = None
    url: str = ""
    code: str | None = None  # an IdP/OAuth error code: invalid_redirect_uri, AADSTS50011, ...
    where: Literal["hub", "idp", "prober"] = "hub"
    # A flow_changed: what the flow saw on the page (fields, buttons and the names it read) and
    # why none fit, one line each (`probe run --explain`).
    seen: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecretCheck:
    """What the token endpoint said about the client credentials (DESIGN.md, "The secret check")."""

    outcome: Literal["valid", "expired", "invalid", "inconclusive"]
    http_status: int | None = None
    error: str | None = None  # the OAuth error code, e.g. invalid_client
    description: str | None = None  # error_description, trimmed
    detail: str = ""  # a sentence for humans
    ms: int = 0

    @property
    def evidence(self) -> str:
        if self.error:
            desc = f' "{self.description}"' if self.description else ""
            return f"token endpoint: {self.error}{desc}"
        return f"token endpoint: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Observation:
    """Everything one probe saw, before any judgement."""

    hub: str
    steps: tuple[Step, ...]
    failure: Failure | None
    secret_check: SecretCheck | None = None
    hub_url: str = ""


@dataclass(frozen=True)
class Verdict:
    code: Code
    severity: Severity
    summary: str  # one line a tired human acts on
    step: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code is Code.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "severity": str(self.severity),
            "summary": self.summary,
            "step": self.step,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Evidence:
    """Where a failing probe's evidence was written (absolute paths; None: not captured)."""

    dir: str
    ref: str  # "<hub>/<timestamp>": its place under artifacts_dir and under /artifacts/
    screenshot: str | None = None
    html: str | None = None
    trace: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProbeResult:
    hub: str
    verdict: Verdict
    observation: Observation
    started_at: str  # ISO 8601, UTC
    duration_ms: int
    evidence: Evidence | None = None

    def to_json(self) -> dict[str, Any]:
        sc = self.observation.secret_check
        return {
            "hub": self.hub,
            "ok": self.verdict.ok,
            "verdict": self.verdict.to_json(),
            "steps": [s.to_json() for s in self.observation.steps],
            "secret_check": sc.to_json() if sc else None,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "evidence": self.evidence.to_json() if self.evidence else None,
            "explain": list(self.observation.failure.seen) if self.observation.failure else [],
        }

    @classmethod
    def from_json(cls, data: Any) -> ProbeResult | None:
        """Back from to_json() (what `probe run --alert` hands to a running monitor); None when
        it is not one. The observation comes back without its Failure: the verdict says it."""
        try:
            v, sc, ev = data["verdict"], data.get("secret_check"), data.get("evidence")
            verdict = Verdict(
                code=Code(v["code"]),
                severity=Severity(v["severity"]),
                summary=str(v["summary"]),
                step=v.get("step"),
                evidence=dict(v.get("evidence") or {}),
            )
            steps = tuple(Step(**s) for s in data.get("steps") or [])
            secret = SecretCheck(**sc) if isinstance(sc, dict) else None
            hub = str(data["hub"])
            return cls(
                hub=hub,
                verdict=verdict,
                observation=Observation(hub, steps, None, secret),
                started_at=str(data["started_at"]),
                duration_ms=int(data["duration_ms"]),
                evidence=Evidence(**ev) if isinstance(ev, dict) else None,
            )
        except (KeyError, TypeError, ValueError):
            return None
