"""Prometheus metrics, named after blackbox_exporter's where one exists (probe_success, ...)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from loginprobe.model import Code, ProbeResult
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
        self.store_errors = Counter(
            "loginprobe_store_errors",
            "Writes the store refused (disk full, read-only, unreachable); what they carried is "
            "kept in memory and pages go out from there",
            registry=r,
        )
        self.healthy = Gauge(
            "loginprobe_healthy",
            "1 while the monitor is healthy (what /healthz answers with 200), else 0",
            registry=r,
        )
        self.schedule_lag = Gauge(
            "loginprobe_schedule_lag_seconds",
            "How late probes start: the longest-waiting due probe, else the last one started "
            "(a machine that does not keep up with the fleet)",
            registry=r,
        )
        self._last_labels: dict[str, tuple[str, str]] = {}
        self._steps: dict[str, set[str]] = {}

    def observe(self, result: ProbeResult) -> None:
        hub, v = result.hub, result.verdict
        self.probes.labels(hub, str(v.code)).inc()
        if v.code is Code.PROBE_ERROR:
            return  # the prober failed: no evidence about the hub, its gauges stay as they were
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

    def forget(self, hub: str) -> None:
        """A hub removed by a reload: its series go, rather than show its last state for ever."""
        for gauge in (self.success, self.duration, self.secret_expiry):
            with contextlib.suppress(KeyError):
                gauge.remove(hub)
        for step in self._steps.pop(hub, set()):
            with contextlib.suppress(KeyError):
                self.step_duration.remove(hub, step)
        labels = self._last_labels.pop(hub, None)
        if labels is not None:
            with contextlib.suppress(KeyError):
                self.verdict.remove(hub, *labels)

    def outbox(self, stats: OutboxStats) -> None:
        self.outbox_depth.set(stats.depth)
        self.outbox_age.set(stats.oldest_age_s)
        self.outbox_rejected.set(stats.rejected)

    def render(self) -> bytes:
        return generate_latest(self.registry)
