"""PromQL as the tests of deploy/ read it: which metrics an expression selects, which ones `probe
serve` exports, and promtool to run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from loginprobe.monitor.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
# Names the rules or the dashboard may use before the monitor exports them (none today). Once Metrics
# registers one, test_names_pending_are_not_exported_yet says to drop it here.
PENDING: frozenset[str] = frozenset()
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
    | {"unless", "offset", "inf", "nan", "atan2"}
)
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def _bare(expr: str) -> str:
    """The expression without strings, label matchers, ranges, grouping labels and numbers."""
    s = STRINGS.sub(" ", expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)
    return re.sub(r"(?<![\w:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", " ", s)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (not its functions, labels, keywords or strings)."""
    s = _bare(expr)
    names = set()
    for m in re.finditer(NAME, s):
        if re.match(r"\s*\(", s[m.end() :]) or m.group().lower() in KEYWORDS:
            continue  # a function or an aggregation; a keyword
        names.add(m.group())
    return names


def selectors(expr: str, name: str) -> list[str]:
    """The label matchers of every selector of `name` in `expr` ("" where it has none)."""
    s = STRINGS.sub(lambda m: "_" * len(m.group()), expr)  # same offsets, no names inside strings
    found = []
    for m in re.finditer(rf"(?<![\w:]){re.escape(name)}(?![\w:])", s):
        rest = expr[m.end() :]
        matchers = re.match(r"\s*(\{[^}]*\})", rest)
        found.append(matchers.group(1) if matchers else "")
    return found


def exported(metrics: Metrics | None = None) -> set[str]:
    """Every sample name `probe serve`'s /metrics can carry, from what Metrics registers."""
    names = set()
    for family in (metrics or Metrics()).registry.collect():
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """promtool from Debian's prometheus package (scripts/setup puts it on the PATH)."""
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/setup installs it (from Debian's prometheus package)"
    return subprocess.run(
        [path, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
