"""Every fault switch of the real sandbox gives its verdict, and flipping it back gives `ok`.

Each run also proves that no password, client secret or routing key reaches stdout, stderr,
the JSON or any file the probe wrote (see conftest.Prober.assert_no_secrets).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Prober, Run

pytestmark = pytest.mark.sandbox

# (fault, value, expected code, expected step, words the summary must contain)
FAULTS: list[tuple[str, Any, str, str, tuple[str, ...]]] = [
    (
        "secret_expired",
        True,
        "client_secret_expired",
        "oauth_callback",
        ("client secret expired", "client secret is expired", "/hub/oauth_callback answered 500"),
    ),
    (
        "secret_wrong",
        True,
        "client_secret_invalid",
        "oauth_callback",
        ("rejects the OAuth client secret", "invalid_client"),
    ),
    (
        "stale_secret",
        True,
        "callback_error",
        "oauth_callback",
        ("different secret", "stale or reverted"),
    ),
    ("idp_down", True, "idp_unreachable", "idp_page", ("IdP", "ERR_CONNECTION_REFUSED")),
    ("hub_down", True, "hub_unreachable", "hub_start", ("ERR_CONNECTION_REFUSED",)),
    ("login_500", True, "hub_error", "hub_login", ("answered 500", "/hub/oauth_login")),
    (
        "redirect_uri_mismatch",
        True,
        "idp_error",
        "idp_page",
        ("redirect URI mismatch", "invalid_redirect_uri"),
    ),
    ("password_wrong", True, "login_rejected", "idp_login", ("Invalid username or password",)),
    ("user_forbidden", True, "access_denied", "oauth_callback", ("refuses the logged-in",)),
    (
        "state_cookie_lost",
        True,
        "callback_error",
        "oauth_callback",
        ("OAuth state missing from cookies", "state cookie"),
    ),
    ("consent_blocked", True, "login_rejected", "idp_consent", ("never set up",)),
]


def test_healthy_hub_is_ok(prober: Prober) -> None:
    run = prober.run("run", "sandbox", "--json")
    assert run.code == 0, run.stderr
    result = run.json
    assert result["ok"] is True
    assert result["verdict"]["code"] == "ok"
    names = [s["name"] for s in result["steps"]]
    assert names[0] == "hub_start" and names[-1] == "hub_landing"
    assert "oauth_callback" in names
    assert all(s["status"] == "ok" for s in result["steps"])
    assert result["secret_check"]["outcome"] == "valid"
    assert set(result) >= {
        "hub",
        "ok",
        "verdict",
        "steps",
        "secret_check",
        "started_at",
        "duration_ms",
    }


@pytest.mark.parametrize(
    ("fault", "value", "code", "step", "words"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_fault_gives_its_verdict_and_recovers(
    prober: Prober, fault: str, value: Any, code: str, step: str, words: tuple[str, ...]
) -> None:
    prober.sandbox.set_fault(fault, value)
    run = prober.run("run", "sandbox", "--json")
    verdict = run.json["verdict"]
    assert (verdict["code"], verdict["step"]) == (code, step), verdict
    assert run.code == 1
    text = verdict["summary"]
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    assert text.startswith("sandbox: ")

    prober.sandbox.set_fault(fault, False)
    again = prober.run("run", "sandbox")  # the human output, searched for secrets too
    assert again.code == 0, again.stdout + again.stderr
    assert "ok: sandbox: logged in" in again.stdout


def test_expired_secret_without_oauth_section_is_callback_error(prober: Prober) -> None:
    prober.sandbox.set_fault("secret_expired")
    run = prober.run("run", "sandbox", "--json", config=prober.config(oauth=False))
    assert run.json["verdict"]["code"] == "callback_error"
    assert run.json["secret_check"] is None
    assert "cause not confirmed" in run.json["verdict"]["summary"]


def test_slow_idp_past_the_timeout_names_the_idp_step(prober: Prober) -> None:
    prober.sandbox.set_fault("idp_slow", 8)
    run = prober.run("run", "sandbox", "--json", config=prober.config(timeout="4s"))
    verdict = run.json["verdict"]
    assert (verdict["code"], verdict["step"]) == ("timeout", "idp_page"), verdict
    assert "the IdP did not answer" in verdict["summary"]
    assert run.json["steps"][-1]["status"] == "timeout"
    assert run.json["duration_ms"] < 12_000


def test_an_idp_going_down_mid_login_is_idp_unreachable_not_a_changed_login_page(
    prober: Prober,
) -> None:
    """Seen in a replica test: the IdP went down while a probe's login POST was out; the browser
    showed its own error page, and the flow, finding no login form there, said the login page had
    changed (flow_changed: a warning of its own, paged apart from the IdP's incident)."""
    sb = prober.sandbox
    before = int(sb.idp_counters().get("logins_received", 0))
    runs: list[Run] = []
    sb.set_fault("login_hang", 60)  # the IdP holds the login POST...
    probe = threading.Thread(target=lambda: runs.append(prober.run("run", "sandbox", "--json")))
    probe.start()
    deadline = time.monotonic() + 120
    while int(sb.idp_counters().get("logins_received", 0)) <= before:
        assert probe.is_alive() and time.monotonic() < deadline, "the login never came"
        time.sleep(0.2)  # polling the IdP's counter, not waiting for time to pass
    sb.set_fault("idp_down")  # ...and goes down with it open
    probe.join(150)
    sb.set_fault("idp_down", False)
    sb.set_fault("login_hang", False)
    assert not probe.is_alive() and runs, "the probe did not end"
    verdict = runs[0].json["verdict"]
    assert verdict["code"] == "idp_unreachable", verdict
    assert verdict["step"].startswith("idp_"), verdict


def test_slow_idp_within_the_timeout_is_ok(prober: Prober) -> None:
    prober.sandbox.set_fault("idp_slow", 1)
    run = prober.run("run", "sandbox", "--json")
    assert run.json["verdict"]["code"] == "ok"
    idp_page = next(s for s in run.json["steps"] if s["name"] == "idp_page")
    hub_login = next(s for s in run.json["steps"] if s["name"] == "hub_login")
    assert idp_page["ms"] + hub_login["ms"] >= 1000


@pytest.mark.parametrize("fault", ["js_form", "stay_signed_in"])
def test_generic_flow_gets_past_what_a_person_would(prober: Prober, fault: str) -> None:
    prober.sandbox.set_fault(fault)
    run = prober.run("run", "sandbox", "--json")
    assert run.json["verdict"]["code"] == "ok", run.json["verdict"]


def test_rejected_secret_check_while_logins_work_is_not_a_hub_failure(prober: Prober) -> None:
    # The prober's copy of the secret is wrong, the hub's is right: the check is misconfigured.
    wrong = "cs-the-prober-has-an-outdated-copy"
    prober.secrets.append(wrong)
    run = prober.run("run", "sandbox", "--json", env={"SANDBOX_CLIENT_SECRET": wrong})
    assert run.code == 0
    assert run.json["secret_check"]["outcome"] == "invalid"
    assert run.json["verdict"]["code"] == "ok"
    assert "secret check is misconfigured" in run.json["verdict"]["summary"]


def test_unrecognisable_login_form_is_flow_changed_not_a_rejected_account(prober: Prober) -> None:
    prober.sandbox.set_fault("odd_form")
    run = prober.run("run", "sandbox", "--json")
    verdict = run.json["verdict"]
    assert (verdict["code"], verdict["step"]) == ("flow_changed", "idp_login"), verdict
    assert "'ident'" in verdict["summary"] and "selectors" in verdict["summary"]
    assert run.code == 1


def test_selector_overrides_get_through_a_form_the_heuristics_cannot_read(prober: Prober) -> None:
    prober.sandbox.set_fault("odd_form")
    cfg = prober.config(extra_hub='[hubs.sandbox.selectors]\nusername = "#f1"\npassword = "#f2"\n')
    run = prober.run("run", "sandbox", "--json", config=cfg)
    assert run.json["verdict"]["code"] == "ok", run.json["verdict"]


def test_a_browser_that_cannot_start_is_a_probe_error_not_a_hub_failure(
    prober: Prober, tmp_path: Path
) -> None:
    cfg = prober.config()
    cfg.write_text(cfg.read_text().replace('executable = ""', 'executable = "/bin/false"'))
    # At the default log level: a traceback is for LOGINPROBE_LOG_LEVEL=debug only.
    run = prober.run(
        "run", "sandbox", "--json", config=cfg, env={"LOGINPROBE_LOG_LEVEL": "warning"}
    )
    assert run.code == 3
    assert run.json["verdict"]["code"] == "probe_error"
    assert "could not start Chromium (/bin/false)" in run.json["verdict"]["summary"]
    assert "Traceback" not in run.stderr
