"""/metrics: the names dashboards and alert rules key on, the per-step histograms, the time to page,
and how many series a fleet of 200 hubs exports (the README states the figure this test measures)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import prometheus_client.metrics
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.metrics_scrape import fleet, series
from loginprobe.model import Code, ProbeResult, Step
from loginprobe.monitor.metrics import STEP_BUCKETS, Metrics
from loginprobe.monitor.pipeline import Context, ProbeFact, react
from loginprobe.monitor.tracks.track import Thresholds, Track
from tests.unit.fakes import verdict_result

README = Path(__file__).resolve().parents[2] / "README.md"
# The sandbox's login, as `probe run` shows it: seven steps.
STEPS = (
    ("hub_start", 244),
    ("hub_login", 282),
    ("idp_page", 5),
    ("idp_login", 440),
    ("idp_consent", 193),
    ("oauth_callback", 88),
    ("hub_landing", 2600),
)
T0 = datetime(2026, 11, 30, tzinfo=UTC)
# Every name the monitor exported before the histograms (dashboards and rules key on them).
KEPT = {
    "probe_success",
    "probe_duration_seconds",
    "probe_step_duration_seconds",
    "loginprobe_verdict_info",
    "loginprobe_probes_total",
    "loginprobe_outbox_depth",
    "loginprobe_outbox_oldest_age_seconds",
    "loginprobe_outbox_rejected_events",
    "loginprobe_incidents_open",
    "oauth_client_secret_expiry_timestamp_seconds",
    "loginprobe_secret_checks_total",
    "probe_ssl_earliest_cert_expiry",
    "loginprobe_store_errors_total",
    "loginprobe_healthy",
}


def result(
    hub: str, code: Code = Code.OK, at: datetime = T0, ms: int = 1000, failed_at: str = ""
) -> ProbeResult:
    """A probe of the sandbox's seven steps started `at`; a failing one stops at `failed_at`."""
    steps = []
    for name, step_ms in STEPS:
        if name == failed_at:
            steps.append(Step(name, "failed", 500, ms=step_ms))
            break
        steps.append(Step(name, "ok", 200, ms=step_ms))
    base = verdict_result(hub, code)
    return replace(
        base,
        observation=replace(base.observation, steps=tuple(steps)),
        started_at=at.isoformat(),
        duration_ms=ms,
    )


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What a scrape reads: (sample name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return samples(m).get((name, tuple(sorted(labels.items()))))


def test_every_name_dashboards_key_on_is_still_exported() -> None:
    m = Metrics()
    m.observe(result("a"))
    m.secret_expiry.labels("a").set(1.8e9)
    m.secret_check.labels("a", "valid").inc()
    m.cert_expiry.labels("a", "a.example.org").set(1.8e9)
    exported = {name for name, _ in samples(m)}
    assert exported >= KEPT
    assert value(m, "probe_step_duration_seconds", hub="a", step="idp_login") == 0.44


def test_each_step_that_got_through_lands_in_its_hub_and_phase_buckets() -> None:
    m = Metrics()
    m.observe(result("a"))
    m.observe(result("a", Code.HUB_ERROR, failed_at="hub_login"))
    bucket = "probe_login_duration_seconds_bucket"
    assert value(m, "probe_login_duration_seconds_count", hub="a", phase="hub_start") == 2
    # The failed step took 282 ms to fail: not a login time, so only the good probe's is counted.
    assert value(m, "probe_login_duration_seconds_count", hub="a", phase="hub_login") == 1
    assert value(m, "probe_login_duration_seconds_count", hub="a", phase="idp_login") == 1
    assert value(m, bucket, hub="a", phase="idp_login", le="0.25") == 0
    assert value(m, bucket, hub="a", phase="idp_login", le="0.5") == 1
    assert value(m, bucket, hub="a", phase="hub_landing", le="2.5") == 0
    assert value(m, bucket, hub="a", phase="hub_landing", le="5.0") == 1
    assert value(m, "probe_login_duration_seconds_sum", hub="a", phase="idp_login") == 0.44
    les = {dict(labels)["le"] for name, labels in samples(m) if name == bucket}
    assert les == {str(b) for b in STEP_BUCKETS} | {"+Inf"}


def test_a_prober_failure_adds_no_login_time() -> None:
    m = Metrics()
    m.observe(result("a"))
    m.observe(result("a", Code.PROBE_ERROR))
    assert value(m, "probe_login_duration_seconds_count", hub="a", phase="hub_start") == 1
    assert value(m, "loginprobe_probes_total", hub="a", code="probe_error") == 1


def test_a_hub_removed_by_a_reload_takes_its_histograms_with_it() -> None:
    m = Metrics()
    m.observe(result("a"))
    m.observe(result("b"))
    m.forget("a")
    hubs = {dict(labels).get("hub") for name, labels in samples(m) if "login_duration" in name}
    assert hubs == {"b"}


def run(m: Metrics, probes: list[tuple[Code, datetime, int]], hub: str = "a") -> list[str]:
    """Probes through the real incident tracks (two failures to page), then into the metrics, as
    the pipeline does; returns the actions they caused."""
    tracks: dict[str, Track] = {}
    done = []
    for code, at, ms in probes:
        ctx = Context(Thresholds(2, 2), at.isoformat(), at, (30, 14, 7, 1), {})
        r = result(hub, code, at, ms)
        moved, actions = react(ProbeFact(r), tracks, ctx)
        tracks.update(moved)
        m.observe(r, actions)
        done += [f"{a.kind} {a.dedup_key}" for a in actions]
    return done


def pages(m: Metrics) -> tuple[float | None, float | None]:
    """(count, sum) of loginprobe_time_to_page_seconds."""
    return (
        value(m, "loginprobe_time_to_page_seconds_count"),
        value(m, "loginprobe_time_to_page_seconds_sum"),
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_time_to_page_runs_from_the_first_failing_probe_to_the_end_of_the_one_that_paged() -> None:
    m = Metrics()
    done = run(
        m,
        [
            (Code.OK, at(0), 1000),
            (Code.HUB_ERROR, at(60), 2000),  # the outage is first seen here
            (Code.PROBE_ERROR, at(80), 500),  # no evidence about the hub: the clock runs on
            (Code.HUB_ERROR, at(100), 3000),  # second failure: the page, decided at 103 s
            (Code.HUB_ERROR, at(120), 3000),  # still failing: no new page
        ],
    )
    assert done == ["trigger loginprobe/a/login"]
    assert pages(m) == (1, 43.0)
    assert value(m, "loginprobe_time_to_page_seconds_bucket", le="30.0") == 0
    assert value(m, "loginprobe_time_to_page_seconds_bucket", le="60.0") == 1


def test_an_expired_secret_proven_in_one_probe_pages_in_that_probes_time() -> None:
    m = Metrics()
    run(m, [(Code.OK, at(0), 1000), (Code.CLIENT_SECRET_EXPIRED, at(60), 2500)])
    assert pages(m) == (1, 2.5)


def test_a_recovery_restarts_the_clock_for_the_next_outage() -> None:
    m = Metrics()
    outage = [(Code.HUB_UNREACHABLE, at(s), 1000) for s in (0, 20)]
    healthy = [(Code.OK, at(s), 1000) for s in (40, 60)]
    later = [(Code.HUB_UNREACHABLE, at(s), 1000) for s in (600, 620)]
    assert run(m, outage + healthy + later) == [
        "trigger loginprobe/a/login",
        "resolve loginprobe/a/login",
        "trigger loginprobe/a/login",
    ]
    assert pages(m) == (2, 42.0)


def test_a_warning_is_no_outage_to_page_about_until_it_turns_into_one() -> None:
    m = Metrics()
    done = run(
        m,
        [
            (Code.LOGIN_REJECTED, at(0), 1000),
            (Code.LOGIN_REJECTED, at(20), 1000),  # the account: a warning incident of its own
            (Code.HUB_ERROR, at(40), 1000),  # the hub fails: unconfirmed, as a first failure
            (Code.HUB_ERROR, at(60), 1000),  # confirmed: a new incident, that notifies
        ],
    )
    assert done == [
        "trigger loginprobe/a/login/warning",
        "trigger loginprobe/a/login",
        "resolve loginprobe/a/login/warning",
    ]
    assert pages(m) == (1, 21.0)  # from the first hub_error to the end of the one that paged


def readme_figure(what: str) -> int:
    found = re.search(rf"\| {re.escape(what)} \| ([\d,]+) ", README.read_text(encoding="utf-8"))
    assert found, f"README's numbers table has no row '| {what} | N ...'"
    return int(found.group(1).replace(",", ""))


def test_a_fleet_of_200_hubs_exports_the_series_the_readme_states() -> None:
    """The fleet of benchmarks/metrics_scrape.py, which also times the scrape."""
    m = fleet(200)
    counts = series(m)
    histogram = sum(n for name, n in counts.items() if name.startswith("probe_login_duration"))
    # One hub: 7 steps x (7 buckets + sum + count + created) = 70 histogram series, and 19 others.
    assert histogram == 200 * 7 * 10
    assert sum(counts.values()) == readme_figure("series on `/metrics`, 200 hubs"), dict(counts)
    # prometheus_client's PROMETHEUS_DISABLE_CREATED_SERIES=true, for this test only.
    prometheus_client.metrics.disable_created_metrics()
    try:
        lean = series(m)
    finally:
        prometheus_client.metrics.enable_created_metrics()
    assert not [name for name in lean if name.endswith("_created")]
    assert sum(lean.values()) == readme_figure(
        "series on `/metrics`, 200 hubs, `PROMETHEUS_DISABLE_CREATED_SERIES=true`"
    )
