"""deploy/grafana-dashboard.json: a dashboard Grafana's schema accepts (the fields and bounds of its
dashboard kind, kinds/dashboard/dashboard_kind.cue in Grafana's repository), laid out without
overlaps, whose every query is PromQL that promtool parses and selects only what `probe serve`
exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.promql import PENDING, ROOT, exported, metric_names, promtool, selectors

DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
PANEL_TYPES = {"row", "stat", "timeseries", "table", "bargauge", "state-timeline", "text", "gauge"}
VARIABLE_TYPES = {"query", "adhoc", "constant", "datasource", "interval", "textbox", "custom"}
# Grafana's own variables, and what stands in for them when promtool parses a query.
BUILTIN = {"__range": "1h", "__rate_interval": "5m", "__interval": "1m"}
VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")


def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def panels(within: list[dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    """Every panel, those inside (collapsed) rows included."""
    for panel in dashboard()["panels"] if within is None else within:
        yield panel
        yield from panels(panel.get("panels", []))


def queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable (its metric selector)."""
    for panel in panels():
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            selector = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
            assert selector, f"variable {variable['name']}: {query}"
            yield f"variable {variable['name']!r}", selector.group(1)


def variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard()["templating"]["list"]}


def test_the_dashboard_has_what_grafana_requires_of_one() -> None:
    d = dashboard()
    assert d["title"]
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", d["uid"]), "uid: 1-40 characters, URL-safe"
    assert d.get("id") is None, "an id belongs to one Grafana instance"
    assert isinstance(d["schemaVersion"], int) and 36 <= d["schemaVersion"] < 2**16
    assert isinstance(d["editable"], bool)
    assert d["graphTooltip"] in {0, 1, 2}
    assert set(d["time"]) == {"from", "to"}
    assert all(isinstance(t, str) for t in d["tags"])
    for annotation in d["annotations"]["list"]:
        assert {"name", "datasource", "enable", "iconColor"} <= set(annotation)
    for v in d["templating"]["list"]:
        assert v["type"] in VARIABLE_TYPES and v["name"] and v["hide"] in {0, 1, 2}, v


def test_every_panel_has_a_type_an_id_a_place_and_its_queries() -> None:
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels():
        assert p["type"] in PANEL_TYPES, p["title"]
        assert isinstance(p["id"], int) and p["id"] > 0
        g = p["gridPos"]
        assert g["h"] > 0 and 0 < g["w"] <= 24 and 0 <= g["x"] < 24 and g["y"] >= 0, p["title"]
        assert g["x"] + g["w"] <= 24, p["title"]
        if p["type"] == "row":
            assert isinstance(p["collapsed"], bool) and isinstance(p["panels"], list)
            continue
        assert p["title"] and p["description"], p["id"]
        assert set(p["fieldConfig"]) == {"defaults", "overrides"}, p["title"]
        assert isinstance(p["options"], dict) and isinstance(p["transformations"], list)
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]


def test_queries_go_to_the_chosen_prometheus() -> None:
    assert variables()["datasource"]["type"] == "datasource"
    assert variables()["datasource"]["query"] == "prometheus"
    chosen = {"type": "prometheus", "uid": "${datasource}"}
    for p in panels():
        if p["type"] != "row":
            assert p["datasource"] == chosen, p["title"]
            assert all(t["datasource"] == chosen for t in p["targets"]), p["title"]


def test_no_two_panels_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for p in dashboard()["panels"]:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in taken, f"{p['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = p["title"]


def test_every_query_selects_only_metrics_the_monitor_exports() -> None:
    known = exported() | PENDING
    for where, expr in queries():
        names = metric_names(expr)
        assert names, f"{where}: selects no metric"
        assert not names - known, f"{where}: {sorted(names - known)} not exported"


def test_every_name_blackbox_exporter_shares_is_filtered_by_loginprobes_job() -> None:
    for where, expr in queries():
        for name in metric_names(expr):
            if name.startswith("probe_"):
                for matchers in selectors(expr, name):
                    assert 'job=~"$job"' in matchers, f"{where}: {name}{matchers}"


def test_every_variable_a_query_uses_is_defined() -> None:
    defined = set(variables()) | set(BUILTIN)
    for where, expr in queries():
        assert not set(VARIABLE.findall(expr)) - defined, where


def test_every_query_is_promql_that_promtool_parses(tmp_path: Path) -> None:
    def stand_in(m: re.Match[str]) -> str:
        return BUILTIN.get(m.group(1), "loginprobe" if m.group(1) == "job" else ".*")

    recorded = [
        {"record": f"dashboard:query_{i}", "expr": VARIABLE.sub(stand_in, expr)}
        for i, (_, expr) in enumerate(queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
