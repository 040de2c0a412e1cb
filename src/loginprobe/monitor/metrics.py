"""Prometheus metrics, named after blackbox_exporter's where one exists (probe_success, ...)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from loginprobe.model import ProbeResult
from loginprobe.store import OutboxStats


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.success = Gauge("probe_success", "1 if the last login succeeded", ["hub"], registry=r)
        self.duration = Gauge(
            "probe_duration_seconds", "Duration of the last probe", ["hub"], registry=r
        )
        self.step_duration = Gauge(
            "probe_step_duration_seconds",
            "Duration of each step of the last probe",
            ["hub", "step"],
            registry=r,
        )
        self.verdict = Gauge(
            "loginprobe_verdict_info",
            "The last verdict (value 1)",
            ["hub", "code", "severity"],
            registry=r,
        )
        self.probes = Counter("loginprobe_probes", "Probes by verdict", ["hub", "code"], registry=r)
        self.outbox_depth = Gauge(
            "loginprobe_outbox_depth", "PagerDuty events not yet delivered", registry=r
        )
        self.outbox_age = Gauge(
            "loginprobe_outbox_oldest_age_seconds",
            "Age of the oldest undelivered PagerDuty event",
            registry=r,
        )
        self.outbox_rejected = Gauge(
            "loginprobe_outbox_rejected_events",
            "Events PagerDuty rejected (400): a bug, kept for a human",
            registry=r,
        )
        self.incidents_open = Gauge(
            "loginprobe_incidents_open", "Incidents open (hubs + prober)", registry=r
        )
        self.secret_expiry = Gauge(
            "oauth_client_secret_expiry_timestamp_seconds",
            "Declared expiry of the hub's OAuth client secret (Unix time)",
            ["hub"],
            registry=r,
        )
        self.secret_check = Counter(
            "loginprobe_secret_checks",
            "Scheduled secret checks by outcome",
            ["hub", "outcome"],
            registry=r,
        )
        self.cert_expiry = Gauge(
            "probe_ssl_earliest_cert_expiry",
            "Expiry of the certificate a host presents (Unix time)",
            ["hub", "host"],
            registry=r,
        )
        self._last_labels: dict[str, tuple[str, str]] = {}
        self._steps: dict[str, set[str]] = {}

    def observe(self, result: ProbeResult) -> None:
        hub, v = result.hub, result.verdict
        self.success.labels(hub).set(1 if v.ok else 0)
        self.duration.labels(hub).set(result.duration_ms / 1000)
        steps = {s.name: s.ms for s in result.observation.steps}
        for gone in self._steps.get(hub, set()) - set(steps):
            self.step_duration.remove(hub, gone)
        for name, ms in steps.items():
            self.step_duration.labels(hub, name).set(ms / 1000)
        self._steps[hub] = set(steps)
        previous = self._last_labels.get(hub)
        current = (str(v.code), str(v.severity))
        if previous is not None and previous != current:
            self.verdict.remove(hub, *previous)
        self.verdict.labels(hub, *current).set(1)
        self._last_labels[hub] = current
        self.probes.labels(hub, str(v.code)).inc()

    def outbox(self, stats: OutboxStats) -> None:
        self.outbox_depth.set(stats.depth)
        self.outbox_age.set(stats.oldest_age_s)
        self.outbox_rejected.set(stats.rejected)

    def render(self) -> bytes:
        return generate_latest(self.registry)
