"""`probe run --explain` prints what a flow_changed flow saw, scrubbed of secrets."""

from __future__ import annotations

import pytest

from loginprobe.cli.run import _print_explain
from loginprobe.model import (
    Code,
    Failure,
    FailureKind,
    Observation,
    ProbeResult,
    Severity,
    Verdict,
)
from loginprobe.redact import Redactor


def _result(failure: Failure | None) -> ProbeResult:
    code = Code.FLOW_CHANGED if failure else Code.OK
    return ProbeResult(
        hub="uni",
        verdict=Verdict(code, Severity.WARNING, "uni: ..."),
        observation=Observation(hub="uni", steps=(), failure=failure),
        started_at="2026-11-30T00:00:00Z",
        duration_ms=1,
    )


def test_explain_prints_the_lines_the_flow_saw_and_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failure = Failure(
        FailureKind.FLOW_CHANGED,
        "idp_login",
        url="https://idp.example.edu/login",
        seen=("fields (1):", "  text #f1 name=ident 'identifier' -> unknown", "buttons: none"),
    )
    _print_explain(_result(failure), "uni", Redactor([]))
    out = capsys.readouterr().out
    assert "what the flow saw at https://idp.example.edu/login:" in out
    assert "    text #f1 name=ident 'identifier' -> unknown" in out
    assert "[hubs.uni.selectors]" in out


def test_explain_scrubs_secrets_from_what_the_flow_saw(capsys: pytest.CaptureFixture[str]) -> None:
    failure = Failure(
        FailureKind.FLOW_CHANGED, "idp_login", seen=("button 'continue as hunter2-secret'",)
    )
    _print_explain(_result(failure), "uni", Redactor(["hunter2-secret"]))
    assert "hunter2-secret" not in capsys.readouterr().out


def test_explain_of_a_probe_without_a_flow_changed_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _print_explain(_result(None), "uni", Redactor([]))
    assert "nothing to explain" in capsys.readouterr().out


def test_json_of_a_probe_carries_what_the_flow_saw() -> None:
    failure = Failure(FailureKind.FLOW_CHANGED, "idp_login", seen=("buttons: none",))
    assert _result(failure).to_json()["explain"] == ["buttons: none"]
    assert _result(None).to_json()["explain"] == []
