"""classify: every rule of the ordered table, pinned with hand-built Observations."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import pytest

from loginprobe.model import (
    Code,
    Failure,
    FailureKind,
    Observation,
    SecretCheck,
    Severity,
    Step,
    Verdict,
)
from loginprobe.prober import classify as classify_module
from loginprobe.prober.classify import RULES, classify

HUB = "utoronto"
HUB_URL = "https://hub.example.org"
CALLBACK_URL = f"{HUB_URL}/hub/oauth_callback?code=***&state=***"

# What the secret check says, as secretcheck.interpret would put it.
EXPIRED = SecretCheck(
    "expired",
    401,
    "invalid_client",
    "AADSTS7000222: The provided client secret keys for app 'hub' are expired.",
    "the token endpoint says the client secret has expired (AADSTS7000222)",
)
INVALID = SecretCheck(
    "invalid",
    401,
    "invalid_client",
    "client authentication failed",
    "the token endpoint rejects the client credentials",
)
GITHUB_INVALID = SecretCheck(
    "invalid",
    200,
    "incorrect_client_credentials",
    "The client_id and/or client_secret passed are incorrect.",
    "the token endpoint rejects the client credentials",
)
VALID = SecretCheck(
    "valid",
    400,
    "invalid_grant",
    "grant request is invalid",
    "the token endpoint accepts the client credentials (it only rejected the deliberately "
    "invalid code)",
)
INCONCLUSIVE = SecretCheck(
    "inconclusive",
    500,
    None,
    None,
    "cannot tell whether the secret is good: HTTP 500 from the token endpoint",
)

OK_STEPS = (
    Step("hub_start", "ok", 200, f"{HUB_URL}/", 120),
    Step("hub_login", "ok", 200, f"{HUB_URL}/hub/login", 80),
    Step("idp_page", "ok", 200, "https://idp.example.org/auth", 300),
    Step("idp_login", "ok", 302, "https://idp.example.org/login", 900),
    Step("oauth_callback", "ok", 302, CALLBACK_URL, 400),
    Step("hub_landing", "ok", 200, f"{HUB_URL}/hub/spawn", 700),
)


def observe(
    failure: Failure | None = None,
    secret_check: SecretCheck | None = None,
    steps: tuple[Step, ...] = OK_STEPS,
) -> Observation:
    return Observation(
        hub=HUB, steps=steps, failure=failure, secret_check=secret_check, hub_url=HUB_URL
    )


def callback_failure(status: int) -> Failure:
    return Failure(
        FailureKind.HTTP,
        "oauth_callback",
        f"answered {status}",
        http_status=status,
        url=CALLBACK_URL,
        where="hub",
    )


def assert_well_formed(v: Verdict) -> None:
    assert v.summary.startswith(f"{HUB}: ")
    assert len(v.summary) <= 1024
    assert all(value not in (None, "") for value in v.evidence.values()), v.evidence


# -- ok --------------------------------------------------------------------------------------------
def test_clean_login_is_ok_with_total_time() -> None:
    v = classify(observe())
    assert v.code is Code.OK
    assert v.ok
    assert v.severity is Severity.INFO
    assert v.step is None
    assert v.summary == f"{HUB}: logged in and landed on the hub in 2.5s"
    assert v.evidence == {}


def test_ok_with_valid_secret_check_is_plain_ok() -> None:
    v = classify(observe(secret_check=VALID))
    assert v.code is Code.OK
    assert "misconfigured" not in v.summary
    assert v.evidence["secret_check"] == "valid"


@pytest.mark.parametrize("sc", [EXPIRED, INVALID], ids=["expired", "invalid"])
def test_ok_login_with_rejected_secret_check_says_check_is_misconfigured(sc: SecretCheck) -> None:
    v = classify(observe(secret_check=sc))
    assert v.code is Code.OK
    assert v.severity is Severity.INFO
    assert "secret check is misconfigured" in v.summary
    assert "auth_method" in v.summary
    assert sc.evidence in v.summary
    assert v.evidence["secret_check"] == sc.outcome
    assert "secret expired" not in v.summary


# -- probe_error -----------------------------------------------------------------------------------
def test_prober_failure_is_probe_error_not_a_hub_outage() -> None:
    f = Failure(FailureKind.PROBE_ERROR, "hub_start", "browser made no request", where="prober")
    v = classify(observe(f, steps=()))
    assert v.code is Code.PROBE_ERROR
    assert v.severity is Severity.ERROR
    assert v.step == "hub_start"
    assert "the prober itself failed, not the hub" in v.summary
    assert "browser made no request" in v.summary


def test_probe_error_wins_even_with_an_expired_secret_check() -> None:
    f = Failure(FailureKind.PROBE_ERROR, "idp_login", "TargetClosedError", where="prober")
    assert classify(observe(f, EXPIRED)).code is Code.PROBE_ERROR


# -- timeout ---------------------------------------------------------------------------------------
def test_timeout_at_hub_start_without_any_http_answer_is_hub_unreachable() -> None:
    steps = (Step("hub_start", "timeout", None, f"{HUB_URL}/", 45000),)
    f = Failure(FailureKind.TIMEOUT, "hub_start", "no answer within 45s", url=f"{HUB_URL}/")
    v = classify(observe(f, steps=steps))
    assert v.code is Code.HUB_UNREACHABLE
    assert v.severity is Severity.CRITICAL
    assert v.step == "hub_start"
    assert "hub unreachable" in v.summary
    assert "no answer within 45s" in v.summary


def test_timeout_at_hub_start_after_an_http_answer_is_timeout() -> None:
    steps = (Step("hub_start", "timeout", 200, f"{HUB_URL}/", 45000),)
    f = Failure(FailureKind.TIMEOUT, "hub_start", "no answer within 45s")
    v = classify(observe(f, steps=steps))
    assert v.code is Code.TIMEOUT
    assert "at step hub_start" in v.summary
    assert "the hub did not answer" in v.summary


def test_timeout_at_idp_page_is_timeout_naming_the_step_and_the_idp() -> None:
    steps = (
        Step("hub_start", "ok", 200, f"{HUB_URL}/", 100),
        Step("hub_login", "ok", 302, f"{HUB_URL}/hub/login", 50),
        Step("idp_page", "timeout", None, "https://idp.example.org/auth", 45000),
    )
    f = Failure(FailureKind.TIMEOUT, "idp_page", "no answer within 45s", where="idp")
    v = classify(observe(f, steps=steps))
    assert v.code is Code.TIMEOUT
    assert v.severity is Severity.CRITICAL
    assert v.step == "idp_page"
    assert "login timed out at step idp_page" in v.summary
    assert "the IdP did not answer" in v.summary


# -- unreachable -----------------------------------------------------------------------------------
def test_network_failure_at_the_hub_is_hub_unreachable() -> None:
    f = Failure(
        FailureKind.NETWORK,
        "hub_start",
        "net::ERR_CONNECTION_REFUSED",
        url=f"{HUB_URL}/",
        where="hub",
    )
    v = classify(observe(f, steps=()))
    assert v.code is Code.HUB_UNREACHABLE
    assert v.severity is Severity.CRITICAL
    assert v.step == "hub_start"
    assert "hub unreachable at step hub_start" in v.summary
    assert "net::ERR_CONNECTION_REFUSED" in v.summary
    assert v.evidence["detail"] == "net::ERR_CONNECTION_REFUSED"


def test_network_failure_at_the_idp_is_idp_unreachable() -> None:
    f = Failure(
        FailureKind.NETWORK,
        "idp_page",
        "net::ERR_NAME_NOT_RESOLVED",
        url="https://idp.example.org/auth",
        where="idp",
    )
    v = classify(observe(f))
    assert v.code is Code.IDP_UNREACHABLE
    assert v.severity is Severity.CRITICAL
    assert v.step == "idp_page"
    assert "the IdP's pages cannot be loaded" in v.summary
    assert "net::ERR_NAME_NOT_RESOLVED" in v.summary


# -- hub errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("step", "path"), [("hub_start", "/hub/"), ("hub_login", "/hub/login")])
def test_http_failure_before_the_idp_is_hub_error(step: str, path: str) -> None:
    f = Failure(
        FailureKind.HTTP,
        step,
        "answered 500",
        http_status=500,
        url=f"{HUB_URL}{path}?next=%2Fhub%2F",
    )
    v = classify(observe(f))
    assert v.code is Code.HUB_ERROR
    assert v.severity is Severity.CRITICAL
    assert v.step == step
    assert "the hub answered 500 before sending anyone to the IdP" in v.summary
    assert f"({path} answered 500)" in v.summary
    assert v.evidence["http_status"] == 500


def test_http_failure_at_hub_landing_is_hub_error_after_login() -> None:
    f = Failure(
        FailureKind.HTTP, "hub_landing", "answered 502", http_status=502, url=f"{HUB_URL}/hub/spawn"
    )
    v = classify(observe(f, VALID))
    assert v.code is Code.HUB_ERROR
    assert v.step == "hub_landing"
    assert "the hub failed after the login at step hub_landing" in v.summary
    assert "answered 502" in v.summary


def test_http_failure_at_hub_landing_without_detail_cites_the_path() -> None:
    f = Failure(FailureKind.HTTP, "hub_landing", "", http_status=502, url=f"{HUB_URL}/hub/spawn")
    v = classify(observe(f))
    assert v.code is Code.HUB_ERROR
    assert v.summary.endswith("(/hub/spawn answered 502)")


# -- idp_error -------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["invalid_redirect_uri", "AADSTS50011", "redirect_uri_mismatch"])
def test_idp_redirect_uri_error_is_idp_error_saying_redirect_uri_mismatch(code: str) -> None:
    f = Failure(
        FailureKind.IDP_ERROR,
        "idp_page",
        "IdP answered 400: redirect_uri did not match any of the client's registered uris",
        http_status=400,
        url="https://idp.example.org/auth",
        code=code,
        where="idp",
    )
    v = classify(observe(f))
    assert v.code is Code.IDP_ERROR
    assert v.severity is Severity.CRITICAL
    assert v.step == "idp_page"
    assert "redirect URI mismatch" in v.summary
    assert f"({code}: IdP answered 400" in v.summary
    assert v.evidence["idp_error_code"] == code


def test_idp_error_with_unknown_code_says_idp_shows_an_error_page() -> None:
    f = Failure(
        FailureKind.IDP_ERROR, "idp_page", "IdP answered 400: oops", code="AADSTS99999", where="idp"
    )
    v = classify(observe(f))
    assert v.code is Code.IDP_ERROR
    assert "the IdP shows an error page" in v.summary
    assert "AADSTS99999: IdP answered 400: oops" in v.summary


def test_idp_error_without_code_has_no_code_in_summary_or_evidence() -> None:
    f = Failure(FailureKind.IDP_ERROR, "idp_page", "IdP answered 500: boom", where="idp")
    v = classify(observe(f))
    assert v.code is Code.IDP_ERROR
    assert v.summary == f"{HUB}: login fails — the IdP shows an error page (IdP answered 500: boom)"
    assert "idp_error_code" not in v.evidence


# -- the test account and the flow -----------------------------------------------------------------
def test_login_rejected_is_a_warning_about_the_account() -> None:
    f = Failure(FailureKind.LOGIN_REJECTED, "idp_login", "Invalid email or password.", where="idp")
    v = classify(observe(f))
    assert v.code is Code.LOGIN_REJECTED
    assert v.severity is Severity.WARNING
    assert v.step == "idp_login"
    assert "rejected the test account" in v.summary
    assert "not the hub" in v.summary
    assert "Invalid email or password." in v.summary


def test_flow_changed_is_a_warning_naming_the_step() -> None:
    f = Failure(FailureKind.FLOW_CHANGED, "idp_login", "no password field after 15s", where="idp")
    v = classify(observe(f))
    assert v.code is Code.FLOW_CHANGED
    assert v.severity is Severity.WARNING
    assert v.step == "idp_login"
    assert "the login page changed or the flow is wrong at step idp_login" in v.summary
    assert "no password field after 15s" in v.summary


# -- the callback: the incident this tool exists for -----------------------------------------------
def test_expired_secret_at_callback_is_client_secret_expired() -> None:
    v = classify(observe(callback_failure(500), EXPIRED))
    assert v.code is Code.CLIENT_SECRET_EXPIRED
    assert v.severity is Severity.CRITICAL
    assert v.step == "oauth_callback"
    assert "OAuth client secret expired" in v.summary
    assert EXPIRED.evidence in v.summary
    assert "token endpoint: invalid_client" in v.summary
    assert "AADSTS7000222" in v.summary
    assert "/hub/oauth_callback answered 500" in v.summary
    assert v.evidence["secret_check"] == "expired"
    assert v.evidence["http_status"] == 500


def test_expired_secret_at_callback_403_is_still_client_secret_expired() -> None:
    assert classify(observe(callback_failure(403), EXPIRED)).code is Code.CLIENT_SECRET_EXPIRED


def test_invalid_secret_at_callback_500_is_client_secret_invalid() -> None:
    v = classify(observe(callback_failure(500), INVALID))
    assert v.code is Code.CLIENT_SECRET_INVALID
    assert v.severity is Severity.CRITICAL
    assert v.step == "oauth_callback"
    assert "rejects the OAuth client secret" in v.summary
    assert "not expired" in v.summary
    assert 'token endpoint: invalid_client "client authentication failed"' in v.summary
    assert "/hub/oauth_callback answered 500" in v.summary


def test_github_style_invalid_secret_at_callback_403_is_client_secret_invalid_not_access_denied() -> (
    None
):
    v = classify(observe(callback_failure(403), GITHUB_INVALID))
    assert v.code is Code.CLIENT_SECRET_INVALID
    assert v.code is not Code.ACCESS_DENIED
    assert "incorrect_client_credentials" in v.summary
    assert "/hub/oauth_callback answered 403" in v.summary


@pytest.mark.parametrize(
    "sc", [VALID, None, INCONCLUSIVE], ids=["valid", "no-secret-check", "inconclusive"]
)
def test_callback_403_with_accepted_or_unknown_secret_is_access_denied(
    sc: SecretCheck | None,
) -> None:
    v = classify(observe(callback_failure(403), sc))
    assert v.code is Code.ACCESS_DENIED
    assert v.severity is Severity.CRITICAL
    assert v.step == "oauth_callback"
    assert "the hub refuses the logged-in test user" in v.summary
    assert "allowed users/groups" in v.summary
    assert "/hub/oauth_callback answered 403" in v.summary


def test_callback_500_with_valid_secret_says_hub_runs_a_different_secret() -> None:
    v = classify(observe(callback_failure(500), VALID))
    assert v.code is Code.CALLBACK_ERROR
    assert v.severity is Severity.CRITICAL
    assert v.step == "oauth_callback"
    assert "/hub/oauth_callback answered 500" in v.summary
    assert "different secret" in v.summary
    assert "redeploy" in v.summary
    assert "token endpoint: invalid_grant" in v.summary
    assert v.evidence["secret_check"] == "valid"


def test_callback_500_without_secret_check_is_callback_error_cause_not_confirmed() -> None:
    v = classify(observe(callback_failure(500)))
    assert v.code is Code.CALLBACK_ERROR
    assert "cause not confirmed (no secret check configured)" in v.summary
    assert v.summary.endswith("(/hub/oauth_callback answered 500)")
    assert "secret_check" not in v.evidence


def test_callback_500_with_inconclusive_secret_check_is_callback_error_with_its_detail() -> None:
    v = classify(observe(callback_failure(500), INCONCLUSIVE))
    assert v.code is Code.CALLBACK_ERROR
    assert "cause not confirmed" in v.summary
    assert INCONCLUSIVE.detail in v.summary
    assert "different secret" not in v.summary
    assert v.evidence["secret_check"] == "inconclusive"


# -- what every verdict looks like -----------------------------------------------------------------
_T = Literal["hub", "idp", "prober"]


def _f(kind: FailureKind, step: str, status: int | None = None, where: _T = "hub") -> Failure:
    return Failure(kind, step, "detail", http_status=status, url=f"{HUB_URL}/x", where=where)


ALL_OBSERVATIONS = [
    observe(),
    observe(secret_check=EXPIRED),
    observe(_f(FailureKind.PROBE_ERROR, "hub_start", where="prober"), steps=()),
    observe(_f(FailureKind.TIMEOUT, "hub_start"), steps=()),
    observe(_f(FailureKind.TIMEOUT, "idp_page", where="idp")),
    observe(_f(FailureKind.NETWORK, "hub_start")),
    observe(_f(FailureKind.NETWORK, "idp_page", where="idp")),
    observe(_f(FailureKind.HTTP, "hub_start", 503)),
    observe(_f(FailureKind.HTTP, "hub_login", 500)),
    observe(_f(FailureKind.IDP_ERROR, "idp_page", 400, "idp")),
    observe(_f(FailureKind.LOGIN_REJECTED, "idp_login", where="idp")),
    observe(_f(FailureKind.FLOW_CHANGED, "idp_login", where="idp")),
    observe(callback_failure(500), EXPIRED),
    observe(callback_failure(500), INVALID),
    observe(callback_failure(403), GITHUB_INVALID),
    observe(callback_failure(403)),
    observe(callback_failure(500), VALID),
    observe(callback_failure(500)),
    observe(callback_failure(500), INCONCLUSIVE),
    observe(_f(FailureKind.HTTP, "hub_landing", 500)),
    observe(Failure(FailureKind.HTTP, "hub_landing")),  # the sparsest failure there is
]


@pytest.mark.parametrize("obs", ALL_OBSERVATIONS)
def test_every_summary_starts_with_hub_and_evidence_has_no_empty_values(obs: Observation) -> None:
    assert_well_formed(classify(obs))


def test_summary_is_cut_at_1024_chars() -> None:
    f = Failure(FailureKind.LOGIN_REJECTED, "idp_login", "x" * 5000, where="idp")
    v = classify(observe(f))
    assert v.summary.startswith(f"{HUB}: ")
    assert len(v.summary) == 1024


def test_every_verdict_code_is_reachable_by_some_rule() -> None:
    codes = {classify(obs).code for obs in ALL_OBSERVATIONS}
    assert codes == set(Code)


def test_unknown_failure_kind_at_an_unexpected_place_falls_back_to_probe_error() -> None:
    # No rule matches an observation whose failure kind no rule knows.
    f = replace(_f(FailureKind.HTTP, "hub_landing"), kind="weird")  # type: ignore[arg-type]
    v = classify(observe(f))
    assert v.code is Code.PROBE_ERROR
    assert "could not classify" in v.summary


# -- order -----------------------------------------------------------------------------------------
def test_rule_order_secret_checks_come_before_access_denied_and_callback_error() -> None:
    names = [rule.__name__ for rule in RULES]
    assert names.index("secret_expired") < names.index("access_denied")
    assert names.index("secret_invalid") < names.index("access_denied")
    assert names.index("access_denied") < names.index("callback_failed")
    assert names.index("callback_failed") < names.index("hub_failed_after_login")
    assert names[0] == "logged_in"
    assert names.index("prober_broke") < names.index("timed_out")


def test_rule_order_matters_access_denied_would_swallow_an_expired_secret_at_403() -> None:
    obs = observe(callback_failure(403), EXPIRED)
    # Both rules match this observation on their own ...
    assert classify_module.secret_expired(obs) is not None
    assert classify_module.access_denied(obs) is not None
    # ... and the table's order decides: the secret, not the user, is the cause.
    assert classify(obs).code is Code.CLIENT_SECRET_EXPIRED
    swapped = [r for r in RULES if r is not classify_module.access_denied]
    swapped.insert(swapped.index(classify_module.secret_expired), classify_module.access_denied)
    first = next(v for r in swapped if (v := r(obs)) is not None)
    assert first.code is Code.ACCESS_DENIED


def test_rule_order_matters_callback_error_would_swallow_the_hub_error_fallback() -> None:
    obs = observe(callback_failure(500))
    assert classify_module.hub_failed_after_login(obs) is not None
    assert classify(obs).code is Code.CALLBACK_ERROR


# -- the hub's own words on the callback page (OAuthenticator's error page) ----------------------
GITHUB_403 = (
    "answered 403: 403 : Forbidden | An access token was not returned: "
    "The client_id and/or client_secret passed are incorrect."
)


def callback_page(status: int, detail: str) -> Failure:
    return replace(callback_failure(status), detail=detail)


@pytest.mark.parametrize("sc", [None, INCONCLUSIVE], ids=["no-secret-check", "inconclusive"])
def test_github_wrong_secret_403_without_a_secret_verdict_is_client_secret_invalid(
    sc: SecretCheck | None,
) -> None:
    v = classify(observe(callback_page(403, GITHUB_403), sc))
    assert v.code is Code.CLIENT_SECRET_INVALID
    assert "client_id and/or client_secret passed are incorrect" in v.summary
    assert_well_formed(v)


def test_token_not_returned_saying_expired_is_client_secret_expired() -> None:
    detail = "answered 403: An access token was not returned: The client secret has expired."
    assert classify(observe(callback_page(403, detail))).code is Code.CLIENT_SECRET_EXPIRED


def test_token_not_returned_while_the_config_secret_works_is_the_stale_deployment() -> None:
    v = classify(observe(callback_page(403, GITHUB_403), VALID))
    assert v.code is Code.CALLBACK_ERROR
    assert "running a different secret" in v.summary


def test_token_not_returned_for_another_reason_is_callback_error_not_access_denied() -> None:
    detail = (
        "answered 403: An access token was not returned: The code passed is incorrect or expired."
    )
    v = classify(observe(callback_page(403, detail)))
    assert v.code is Code.CALLBACK_ERROR
    assert "no access token" in v.summary
    assert "The code passed is incorrect or expired." in v.summary


@pytest.mark.parametrize("said", ["OAuth state mismatch", "OAuth state missing from cookies"])
def test_state_mismatch_at_the_callback_names_the_lost_cookie(said: str) -> None:
    v = classify(observe(callback_page(400, f"answered 400: 400 : {said} | {said}")))
    assert v.code is Code.CALLBACK_ERROR
    assert f'"{said}"' in v.summary and "state cookie" in v.summary
    assert_well_formed(v)


def test_plain_forbidden_page_is_still_access_denied() -> None:
    detail = "answered 403: 403 : Forbidden | You do not have permission to access JupyterHub"
    assert classify(observe(callback_page(403, detail))).code is Code.ACCESS_DENIED


def test_suspended_app_reads_as_suspended() -> None:
    f = Failure(
        FailureKind.IDP_ERROR,
        "idp_page",
        "the IdP returned error application_suspended to the hub",
        code="application_suspended",
        where="idp",
    )
    v = classify(observe(f))
    assert v.code is Code.IDP_ERROR
    assert "suspended the hub's OAuth app" in v.summary
