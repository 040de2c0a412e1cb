"""A second real IdP, not written by us: LemonLDAP::NG (Debian's portal, its OpenID Connect issuer
and its Bootstrap pages with Font Awesome glyphs in every button) behind a real JupyterHub with
GenericOAuthenticator, probed with the generic_oidc flow. Its faults are made by changing
LemonLDAP's own state: its user table, its configuration (a new number), its process.
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loginprobe.prober.secretcheck import INVALID_CODE, interpret
from sandbox import Sandbox
from tests.integration.conftest import Prober

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="session")
def lemonldap() -> Iterator[Sandbox]:
    with Sandbox(provider="lemonldap") as sb:
        yield sb


@pytest.fixture
def llng_prober(lemonldap: Sandbox, tmp_path: Path) -> Iterator[Prober]:
    p = Prober(lemonldap, tmp_path)
    yield p
    lemonldap.clear_faults()
    for d in p.tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


def _run(prober: Prober) -> dict[str, Any]:
    run = prober.run("run", "sandbox", "--json")
    assert run.code in (0, 1), run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def test_healthy_login_passes_lemonldaps_icon_buttons_and_consent(
    lemonldap: Sandbox, llng_prober: Prober
) -> None:
    # A first login: LemonLDAP asks for consent ("\uf058 Accept", a Font Awesome glyph first).
    assert lemonldap.lemonldap is not None
    lemonldap.lemonldap.forget_consents()
    result = _run(llng_prober)
    assert result["verdict"]["code"] == "ok", result["verdict"]["summary"]
    steps = [s["name"] for s in result["steps"]]
    assert steps[3:5] == ["idp_login", "idp_consent"], steps
    assert result["secret_check"]["outcome"] == "valid"


def test_wrong_password_is_login_rejected_with_lemonldaps_words(
    lemonldap: Sandbox, llng_prober: Prober
) -> None:
    lemonldap.set_fault("password_wrong")
    verdict = _run(llng_prober)["verdict"]
    assert verdict["code"] == "login_rejected"
    assert "Wrong credentials" in verdict["summary"]


def test_secret_changed_at_lemonldap_is_client_secret_invalid(
    lemonldap: Sandbox, llng_prober: Prober
) -> None:
    lemonldap.set_fault("secret_wrong")
    result = _run(llng_prober)
    assert result["verdict"]["code"] == "client_secret_invalid"
    assert result["secret_check"]["error"] == "invalid_client"


def test_stale_hub_deployment_is_callback_error_naming_it(
    lemonldap: Sandbox, llng_prober: Prober
) -> None:
    lemonldap.set_fault("stale_secret")
    verdict = _run(llng_prober)["verdict"]
    assert verdict["code"] == "callback_error"
    assert "stale or reverted deployment" in verdict["summary"]


def test_lemonldap_down_is_idp_unreachable(lemonldap: Sandbox, llng_prober: Prober) -> None:
    lemonldap.set_fault("idp_down")
    verdict = _run(llng_prober)["verdict"]
    assert verdict["code"] == "idp_unreachable"


def _token_answer(sb: Sandbox, secret: str, basic: bool) -> tuple[int, str]:
    form = {"grant_type": "authorization_code", "code": INVALID_CODE}
    form["redirect_uri"] = sb.callback_url
    headers = {"Accept": "application/json"}
    if basic:
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{sb.client_id}:{secret}".encode()).decode()
        )
    else:
        form |= {"client_id": sb.client_id, "client_secret": secret}
    req = urllib.request.Request(
        sb.token_url, data=urllib.parse.urlencode(form).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_lemonldaps_token_endpoint_answers_as_recorded_in_the_unit_tests(
    lemonldap: Sandbox,
) -> None:
    """What tests/unit/test_secretcheck.py records for LemonLDAP::NG, asked of the real one."""
    good_post = _token_answer(lemonldap, lemonldap.client_secret, basic=False)
    wrong_post = _token_answer(lemonldap, "not-the-secret", basic=False)
    good_basic = _token_answer(lemonldap, lemonldap.client_secret, basic=True)
    wrong_basic = _token_answer(lemonldap, "not-the-secret", basic=True)
    assert good_post == (400, '{"error":"invalid_grant"}')
    assert wrong_post == (400, '{"error":"invalid_client"}')
    assert good_basic == (400, '{"error":"invalid_grant"}')
    assert wrong_basic == (401, '{"error":"invalid_client"}')
    assert interpret(*good_post).outcome == "valid"
    assert interpret(*wrong_post).outcome == "invalid"
    assert interpret(*wrong_basic).outcome == "invalid"
