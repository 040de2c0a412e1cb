"""`probe run --explain`: for a flow_changed, what the flow saw on the IdP's page and why nothing
fit, so the fix ([hubs.NAME.selectors] or a flow file) is plain. Against the real sandbox IdP,
whose `odd_form` fault shows a login form with a field no heuristic can call the username."""

from __future__ import annotations

import pytest

from sandbox import Sandbox
from tests.integration.conftest import Prober

pytestmark = pytest.mark.sandbox


def test_explain_lists_the_fields_and_buttons_the_flow_saw(
    sandbox: Sandbox, prober: Prober
) -> None:
    sandbox.set_fault("odd_form")
    run = prober.run("run", "sandbox", "--explain")
    assert run.code == 1, run.stderr
    assert "flow_changed" in run.stdout
    out = " ".join(run.stdout.split())  # the terminal wraps long lines
    assert "what the flow saw at" in out
    assert "text #f1 name=ident 'identifier' -> unknown" in out
    assert "password #f2 name=secret 'secret phrase' -> password" in out
    assert "submit 'proceed' -> submit" in out
    assert "[hubs.sandbox.selectors]" in out
