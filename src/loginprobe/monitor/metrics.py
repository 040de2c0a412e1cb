"""Prometheus metrics, named after blackbox_exporter's where one exists (probe_success, ...).

Durations follow blackbox_exporter's `probe_<prober>_duration_seconds{phase}`: the login's steps are
its phases (`probe_login_duration_seconds{hub,phase}`, a histogram, next to the last probe's
`probe_step_duration_seconds{hub,step}` gauge). Cardinality stays one series per hub, step and bucket;
the README ("Prometheus and Grafana") has the count for a fleet of 200 hubs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from loginprobe.model import Code, ProbeResult, Severity
from loginprobe.monitor.tracks.login import login_key
from loginprobe.monitor.tracks.track import Action
from loginprobe.store import OutboxStats

# A step of a login takes from a few ms (a cached page) to ~10 s (an IdP asking for MFA); a step
# slower than that is in +Inf and its exact time in probe_step_duration_seconds. Few buckets, so
# 200 hubs stay cheap to scrape.
STEP_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# From the first failing probe to the page: one probe when a cause is proven at once, else
# `failures_to_alert` probes `retry_after_failure` apart (a minute or two with the defaults).
PAGE_BUCKETS = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# The actions that notify a person: a new incident, or a warning's incident turned into an outage.
NEW_INCIDENT = frozenset({"opened", "escalated"})


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
        self.phase_duration = Histogram(
            "probe_login_duration_seconds",
            "Duration of each step (phase) of the login that completed, over all probes",
            ["hub", "phase"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.time_to_page = Histogram(
            "loginprobe_time_to_page_seconds",
            "From the start of a hub's first failing probe to the end of the probe that opened "
            "its outage incident (the page then goes to the outbox)",
            buckets=PAGE_BUCKETS,
            registry=r,
        )
        self._last_labels: dict[str, tuple[str, str]] = {}
        self._steps: dict[str, set[str]] = {}
        self._phases: dict[str, set[str]] = {}
        self._outage_since: dict[str, float] = {}  # hub -> start of its first failing probe

    def observe(self, result: ProbeResult, actions: Iterable[Action] = ()) -> None:
        """A probe's result, and the PagerDuty actions its verdict caused."""
        hub, v = result.hub, result.verdict
        self.probes.labels(hub, str(v.code)).inc()
        if v.code is Code.PROBE_ERROR:
            return  # the prober failed: no evidence about the hub, its gauges stay as they were
        self._time_to_page(result, actions)
        self.success.labels(hub).set(1 if v.ok else 0)
        self.duration.labels(hub).set(result.duration_ms / 1000)
        steps = {s.name: s.ms for s in result.observation.steps}
        for gone in self._steps.get(hub, set()) - set(steps):
            self.step_duration.remove(hub, gone)
        for name, ms in steps.items():
            self.step_duration.labels(hub, name).set(ms / 1000)
        self._steps[hub] = set(steps)
        # Only steps that got through: how long a step takes to fail (a refused connection, a
        # timeout) says nothing about how long a login takes.
        for step in result.observation.steps:
            if step.status == "ok":
                self.phase_duration.labels(hub, step.name).observe(step.ms / 1000)
                self._phases.setdefault(hub, set()).add(step.name)
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
        for phase in self._phases.pop(hub, set()):
            with contextlib.suppress(KeyError):
                self.phase_duration.remove(hub, phase)
        labels = self._last_labels.pop(hub, None)
        if labels is not None:
            with contextlib.suppress(KeyError):
                self.verdict.remove(hub, *labels)
        self._outage_since.pop(hub, None)

    def _time_to_page(self, result: ProbeResult, actions: Iterable[Action]) -> None:
        """Probe clocks only: a run of outage verdicts starts at its first probe's start, and the
        page is decided when the probe that opened the incident ends. A warning (the test account,
        a changed page) is not an outage; a warning that turns into one pages from then."""
        hub, v = result.hub, result.verdict
        started = datetime.fromisoformat(result.started_at).timestamp()
        if v.severity is not Severity.CRITICAL:
            self._outage_since.pop(hub, None)
            return
        since = self._outage_since.setdefault(hub, started)
        paged = any(
            a.kind == "trigger" and a.dedup_key == login_key(hub) and a.reason in NEW_INCIDENT
            for a in actions
        )
        if paged:
            self.time_to_page.observe(max(0.0, started + result.duration_ms / 1000 - since))

    def outbox(self, stats: OutboxStats) -> None:
        self.outbox_depth.set(stats.depth)
        self.outbox_age.set(stats.oldest_age_s)
        self.outbox_rejected.set(stats.rejected)

    def render(self) -> bytes:
        return generate_latest(self.registry)
