"""The identity providers real hubs use, through real OAuthenticator hubs and real Chromium.

Azure AD, GitHub and CILogon cannot be reached from here, so each hub logs in through a local
STAND-IN of that provider (sandbox/standins: their pages by their public DOM, their token endpoints
as documented), behind the real AzureAdOAuthenticator / GitHubOAuthenticator /
CILogonOAuthenticator. Every run also proves that no password, client secret, TOTP seed, or TOTP
code derived from it reaches any output or file.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from loginprobe.prober.totp import code as totp_code
from sandbox import Sandbox
from tests.integration.conftest import Prober, Run, unzipped

pytestmark = pytest.mark.sandbox


class ProviderProber(Prober):
    """A Prober that also hunts for the TOTP seed and every code valid around each run."""

    def __init__(self, sandbox: Sandbox, tmp: Path) -> None:
        super().__init__(sandbox, tmp)
        if sandbox.totp_secret:
            self.secrets.append(sandbox.totp_secret)
        self.started = time.time()

    def config(self, **kwargs: Any) -> Path:
        # A retried TOTP code may wait up to 30 s for the next window (README: >= 60s for TOTP).
        return super().config(**{"timeout": "75s", **kwargs})

    def run(self, *args: str, **kwargs: Any) -> Run:
        self.started = time.time()
        return super().run(*args, **kwargs)

    def assert_no_secrets(self, run: Run) -> None:
        super().assert_no_secrets(run)
        seed = self.sandbox.totp_secret
        if not seed:
            return
        # Every code from a minute before the run to a minute after it (skew faults included).
        codes = {
            totp_code(seed, t) for t in range(int(self.started) - 180, int(time.time()) + 180, 30)
        }
        outputs = {"stdout": run.stdout, "stderr": run.stderr} | {
            where: c.decode("latin-1") for where, c in unzipped(run.written_files()).items()
        }
        for where, text in outputs.items():
            for code in codes:
                assert not _as_text(code, text), f"a TOTP code leaked to {where}"


def _as_text(code: str, text: str) -> bool:
    """The code as typed text (a form value, a string, a log word): six digits standing alone,
    not part of a hex hash, a colour or a JSON number (a trace is full of those)."""
    for m in re.finditer(rf"(?<![0-9A-Za-z.#@_-]){code}(?![0-9A-Za-z.])", text):
        before = text[: m.start()].rstrip()[-1:]
        if before not in (":", ",", "["):
            return True
    return False


def _sandbox(provider: str, totp: bool) -> Iterator[Sandbox]:
    with Sandbox(provider=provider, totp=totp) as sb:
        yield sb


@pytest.fixture(scope="module")
def azure() -> Iterator[Sandbox]:
    yield from _sandbox("azuread", totp=False)


@pytest.fixture(scope="module")
def azure_totp() -> Iterator[Sandbox]:
    yield from _sandbox("azuread", totp=True)


@pytest.fixture(scope="module")
def github() -> Iterator[Sandbox]:
    yield from _sandbox("github", totp=True)


@pytest.fixture(scope="module")
def cilogon() -> Iterator[Sandbox]:
    # The institution behind CILogon asks for a TOTP code on its own page (generic_oidc answers).
    yield from _sandbox("cilogon", totp=True)


def _prober(sb: Sandbox, tmp_path: Path) -> Iterator[ProviderProber]:
    p = ProviderProber(sb, tmp_path)
    yield p
    sb.clear_faults()
    for d in p.tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def az(azure: Sandbox, tmp_path: Path) -> Iterator[ProviderProber]:
    yield from _prober(azure, tmp_path)


@pytest.fixture
def az_totp(azure_totp: Sandbox, tmp_path: Path) -> Iterator[ProviderProber]:
    yield from _prober(azure_totp, tmp_path)


@pytest.fixture
def gh(github: Sandbox, tmp_path: Path) -> Iterator[ProviderProber]:
    yield from _prober(github, tmp_path)


@pytest.fixture
def ci(cilogon: Sandbox, tmp_path: Path) -> Iterator[ProviderProber]:
    yield from _prober(cilogon, tmp_path)


def probe(p: ProviderProber, config: Path | None = None, **env: str) -> tuple[Run, dict[str, Any]]:
    run = p.run("run", "sandbox", "--json", config=config, env=env or None)
    assert "Traceback" not in run.stderr, run.stderr
    return run, run.json


def steps(result: dict[str, Any]) -> list[str]:
    return [s["name"] for s in result["steps"]]


def assert_verdict(
    result: dict[str, Any], code: str, step: str | None, *words: str, idp_code: str | None = None
) -> None:
    v = result["verdict"]
    assert v["code"] == code, v["summary"]
    if step is not None:
        assert v["step"] == step, v
    for word in words:
        assert word in v["summary"], v["summary"]
    if idp_code is not None:
        assert v["evidence"]["idp_error_code"] == idp_code, v["evidence"]


# -- Azure AD -----------------------------------------------------------------------------------
def test_azuread_login_says_no_to_stay_signed_in_and_lands(az: ProviderProber) -> None:
    run, result = probe(az)
    assert run.code == 0, result["verdict"]["summary"]
    assert steps(result) == [
        "hub_start",
        "hub_login",
        "idp_page",
        "idp_login",
        "idp_interstitial",
        "oauth_callback",
        "hub_landing",
    ]


def test_azuread_new_sign_in_ui_logs_in_too(az: ProviderProber) -> None:
    az.sandbox.set_fault("new_ui")
    run, result = probe(az)
    assert run.code == 0, result["verdict"]["summary"]


def test_azuread_password_error_is_login_rejected_in_both_uis(az: ProviderProber) -> None:
    az.sandbox.set_fault("password_wrong")
    for new_ui in (False, True):
        az.sandbox.set_fault("new_ui", new_ui)
        run, result = probe(az)
        assert run.code == 1
        assert_verdict(
            result, "login_rejected", "idp_login", "Your account or password is incorrect"
        )


def test_azuread_push_mfa_is_login_rejected_saying_mfa_was_demanded(az: ProviderProber) -> None:
    az.sandbox.set_fault("mfa_push")
    _, result = probe(az)
    assert_verdict(result, "login_rejected", "idp_login", "demanded MFA", "Approve sign in request")


@pytest.mark.parametrize(
    ("fault", "code", "meaning"),
    [
        ("redirect_uri_mismatch", "AADSTS50011", "redirect URI mismatch"),
        ("aadsts", "AADSTS50105", "not assigned to the hub's app"),
    ],
)
def test_azuread_error_page_is_idp_error_with_its_aadsts_code(
    az: ProviderProber, fault: str, code: str, meaning: str
) -> None:
    az.sandbox.set_fault(fault, code if fault == "aadsts" else True)
    run, result = probe(az)
    assert run.code == 1
    assert_verdict(result, "idp_error", None, meaning, code, idp_code=code)


@pytest.mark.parametrize(
    ("fault", "code", "aadsts"),
    [
        ("secret_expired", "client_secret_expired", "AADSTS7000222"),
        ("secret_wrong", "client_secret_invalid", "AADSTS7000215"),
    ],
)
def test_azuread_secret_problems_at_the_callback(
    az: ProviderProber, fault: str, code: str, aadsts: str
) -> None:
    az.sandbox.set_fault(fault)
    _, result = probe(az)
    assert_verdict(result, code, "oauth_callback", aadsts, "/hub/oauth_callback answered 500")


def test_azuread_totp_code_from_the_seed_logs_in(az_totp: ProviderProber) -> None:
    run, result = probe(az_totp)
    assert run.code == 0, result["verdict"]["summary"]
    assert "idp_mfa" in steps(result)


@pytest.mark.parametrize("skew", [120, 75], ids=["never-typed", "typed-and-rejected"])
def test_azuread_clock_too_far_off_for_totp_is_a_probe_problem(
    az_totp: ProviderProber, skew: int
) -> None:
    az_totp.sandbox.set_fault("clock_skew", skew)
    run, result = probe(az_totp)
    assert run.code == 3, result["verdict"]["summary"]  # the prober broke, not the hub
    assert_verdict(result, "probe_error", "idp_mfa", "clock is", "NTP")


def assert_a_replayed_code_is_retried(p: ProviderProber) -> None:
    """This window's code was used already: refused once, then the next window's logs in."""
    before = p.sandbox.idp_counters()["replays_refused"]
    p.sandbox.set_fault("totp_replayed")
    run, result = probe(p)
    assert run.code == 0, result["verdict"]["summary"]
    assert p.sandbox.idp_counters()["replays_refused"] == before + 1


def test_azuread_code_already_used_this_window_is_retried_with_the_next_one(
    az_totp: ProviderProber,
) -> None:
    assert_a_replayed_code_is_retried(az_totp)


def test_github_code_already_used_this_window_is_retried_with_the_next_one(
    gh: ProviderProber,
) -> None:
    assert_a_replayed_code_is_retried(gh)


def test_cilogon_institution_code_already_used_is_retried_with_the_next_one(
    ci: ProviderProber,
) -> None:
    assert_a_replayed_code_is_retried(ci)


def test_azuread_wrong_totp_seed_with_good_clocks_is_login_rejected(
    az_totp: ProviderProber,
) -> None:
    _, result = probe(az_totp, SANDBOX_TOTP_SECRET=pyotp.random_base32())
    assert_verdict(result, "login_rejected", "idp_mfa", "seed")


# -- GitHub ---------------------------------------------------------------------------------------
def test_github_login_with_two_factor_code_and_authorize_page(gh: ProviderProber) -> None:
    gh.sandbox.set_fault("authorize_app")
    run, result = probe(gh)
    assert run.code == 0, result["verdict"]["summary"]
    assert steps(result)[3:6] == ["idp_login", "idp_mfa", "idp_consent"]
    gh.sandbox.set_fault("authorize_app", False)
    run, result = probe(gh)  # authorized once: GitHub remembers it
    assert run.code == 0, result["verdict"]["summary"]
    assert "idp_consent" not in steps(result)


def test_github_wrong_password_is_login_rejected(gh: ProviderProber) -> None:
    gh.sandbox.set_fault("password_wrong")
    _, result = probe(gh)
    assert_verdict(result, "login_rejected", "idp_login", "Incorrect username or password.")


def test_github_device_verification_is_login_rejected_explaining_why(gh: ProviderProber) -> None:
    gh.sandbox.set_fault("device_verification")
    _, result = probe(gh)
    assert_verdict(result, "login_rejected", "idp_login", "emailed", "cannot read email", "2FA")


def test_github_two_factor_without_a_seed_is_login_rejected(gh: ProviderProber) -> None:
    text = gh.sandbox.config_text().replace('totp_secret_env = "SANDBOX_TOTP_SECRET"', "")
    config = gh.tmp / "no-totp.toml"
    config.write_text(text)
    _, result = probe(gh, config=config)
    assert_verdict(result, "login_rejected", "idp_mfa", "no totp_secret_env")


def test_github_clock_too_far_off_is_a_probe_problem(gh: ProviderProber) -> None:
    gh.sandbox.set_fault("clock_skew", -150)
    run, result = probe(gh)
    assert run.code == 3
    assert_verdict(result, "probe_error", "idp_mfa", "ahead of the IdP's")


@pytest.mark.parametrize(
    ("fault", "code", "meaning"),
    [
        ("app_suspended", "application_suspended", "suspended"),
        ("redirect_uri_mismatch", "redirect_uri_mismatch", "redirect URI mismatch"),
    ],
)
def test_github_errors_sent_back_to_the_hub_are_idp_errors(
    gh: ProviderProber, fault: str, code: str, meaning: str
) -> None:
    gh.sandbox.set_fault(fault)
    _, result = probe(gh)
    assert_verdict(result, "idp_error", None, meaning, idp_code=code)


@pytest.mark.parametrize("secret_check", [True, False], ids=["with-secret-check", "hub-words-only"])
def test_github_wrong_client_secret_is_client_secret_invalid_not_access_denied(
    gh: ProviderProber, secret_check: bool
) -> None:
    gh.sandbox.set_fault("secret_wrong")
    config = gh.config(oauth=secret_check)
    _, result = probe(gh, config=config)
    assert_verdict(
        result,
        "client_secret_invalid",
        "oauth_callback",
        "client_id and/or client_secret passed are incorrect",
    )


def test_github_user_refused_by_the_hub_is_access_denied(gh: ProviderProber) -> None:
    gh.sandbox.set_fault("user_forbidden")
    _, result = probe(gh)
    assert_verdict(result, "access_denied", "oauth_callback")


# -- CILogon --------------------------------------------------------------------------------------
def test_cilogon_picks_the_institution_and_hands_its_page_to_the_next_flow(
    ci: ProviderProber,
) -> None:
    run, result = probe(ci)
    assert run.code == 0, result["verdict"]["summary"]
    assert steps(result)[2:6] == ["idp_page", "idp_select", "idp_login", "idp_mfa"]


def test_cilogon_institution_totp_with_the_clock_off_is_a_probe_problem(ci: ProviderProber) -> None:
    ci.sandbox.set_fault("clock_skew", 75)  # the code is typed, rejected, and blamed on the clock
    run, result = probe(ci)
    assert run.code == 3
    assert_verdict(result, "probe_error", "idp_mfa", "clock is", "NTP")


def test_cilogon_institution_rejecting_the_code_with_good_clocks_is_login_rejected(
    ci: ProviderProber,
) -> None:
    _, result = probe(ci, SANDBOX_TOTP_SECRET=pyotp.random_base32())
    assert_verdict(result, "login_rejected", "idp_mfa", "Invalid code", "seed")


def test_cilogon_institution_password_error_is_login_rejected(ci: ProviderProber) -> None:
    ci.sandbox.set_fault("password_wrong")
    _, result = probe(ci)
    assert_verdict(result, "login_rejected", "idp_login", "The password you entered was incorrect.")


def test_cilogon_error_page_is_idp_error(ci: ProviderProber) -> None:
    ci.sandbox.set_fault("redirect_uri_mismatch")
    _, result = probe(ci)
    assert_verdict(result, "idp_error", None, "CILogon Error", idp_code="invalid_request")


def test_cilogon_expired_secret(ci: ProviderProber) -> None:
    ci.sandbox.set_fault("secret_expired")
    _, result = probe(ci)
    assert_verdict(result, "client_secret_expired", "oauth_callback", "client secret is expired")


def test_cilogon_institution_not_listed_is_flow_changed_naming_the_choices(
    ci: ProviderProber,
) -> None:
    config = ci.tmp / "other.toml"
    config.write_text(ci.sandbox.config_text().replace("Example University", "Nowhere Institute"))
    run, result = probe(ci, config=config)
    assert run.code == 1
    assert_verdict(result, "flow_changed", "idp_select", "Nowhere Institute", "Example University")
