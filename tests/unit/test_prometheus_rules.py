"""deploy/prometheus-rules.yaml: promtool accepts it, its alerts fire on sample series as
tests/prometheus/rules.test.yaml expects, and it selects only what `probe serve` exports."""

from __future__ import annotations

from typing import Any

import yaml

from tests.promql import PENDING, ROOT, exported, metric_names, promtool, selectors

RULES = ROOT / "deploy" / "prometheus-rules.yaml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "rules.test.yaml"
PROMETHEUS_OWN = {"up"}  # Prometheus writes it for every scrape target


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout


def test_the_alerts_fire_on_sample_series_as_the_rule_tests_expect() -> None:
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_seen_firing_in_the_rule_tests() -> None:
    fired = {
        case["alertname"]
        for group in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in rules()} == fired


def test_the_rules_select_only_metrics_the_monitor_exports() -> None:
    known = exported() | PENDING | PROMETHEUS_OWN
    for rule in rules():
        assert not metric_names(rule["expr"]) - known, rule["alert"]


def test_names_pending_are_not_exported_yet() -> None:
    assert not PENDING & exported(), "the monitor exports it now: drop it from tests.promql.PENDING"


def test_every_selector_is_loginprobes_job() -> None:
    """blackbox_exporter exports probe_success and probe_ssl_earliest_cert_expiry too."""
    for rule in rules():
        for name in metric_names(rule["expr"]):
            for matchers in selectors(rule["expr"], name):
                assert 'job="loginprobe"' in matchers, f"{rule['alert']}: {name}{matchers}"


def test_every_alert_says_how_bad_it_is_and_what_to_do() -> None:
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_metric_names_are_read_from_selectors_not_functions_labels_strings_or_numbers() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, phase) (rate(probe_login_duration_seconds_bucket{hub=~"$hub"}[$__rate_interval])))\n'
        '/ on (job) group_left (code) loginprobe_verdict_info{code!="ok"} > 1e3 and up offset 5m\n'
        'or label_replace(vector(1), "group", "all_hubs", "group", "") unless absent(loginprobe_healthy)'
    )
    assert metric_names(expr) == {
        "probe_login_duration_seconds_bucket",
        "loginprobe_verdict_info",
        "up",
        "loginprobe_healthy",
    }
    assert selectors(expr, "loginprobe_verdict_info") == ['{code!="ok"}']
    assert selectors(expr, "up") == [""]
