"""From what a probe saw to what it means: an ordered table of small rules, first match wins.

Pure: no I/O, no clock. Each rule reads an Observation and returns a Verdict or None. The summary is
the line an on-call engineer reads at 5 a.m.: what is broken, for whom, and the evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from loginprobe.model import Code, Failure, FailureKind, Observation, Severity, Verdict

Rule = Callable[[Observation], Verdict | None]

SEVERITY = {
    Code.OK: Severity.INFO,
    Code.LOGIN_REJECTED: Severity.WARNING,
    Code.FLOW_CHANGED: Severity.WARNING,
    Code.PROBE_ERROR: Severity.ERROR,
}

# What an IdP error code means for the hub's operators.
IDP_CODE_MEANING = {
    "invalid_redirect_uri": "the IdP does not accept the hub's callback URL (redirect URI mismatch)",
    "redirect_uri_mismatch": "the IdP does not accept the hub's callback URL (redirect URI mismatch)",
    "AADSTS50011": "the IdP does not accept the hub's callback URL (redirect URI mismatch)",
    "AADSTS700016": "the IdP does not know the hub's app (client id not found in the tenant)",
    "AADSTS50105": "the test account is not assigned to the hub's app in Azure AD",
    "invalid_client": "the IdP does not know the hub's client id",
    "unauthorized_client": "the IdP does not allow the hub's client this kind of login",
    "invalid_scope": "the IdP refuses the scopes the hub asks for",
    "access_denied": "the IdP denied the login",
    "application_suspended": "the IdP has suspended the hub's OAuth app",
    "server_error": "the IdP failed with an internal error",
    "temporarily_unavailable": "the IdP says it is temporarily unavailable",
}


def _verdict(
    obs: Observation, code: Code, what: str, evidence: str, failure: Failure | None, **extra: Any
) -> Verdict:
    details: dict[str, Any] = {}
    if failure is not None:
        details = {
            "step": failure.step,
            "http_status": failure.http_status,
            "url": failure.url,
            "detail": failure.detail,
        }
        if failure.code:
            details["idp_error_code"] = failure.code
    if obs.secret_check is not None:
        details["secret_check"] = obs.secret_check.outcome
        details["secret_check_evidence"] = obs.secret_check.evidence
    details.update(extra)
    summary = f"{obs.hub}: {what}" + (f" ({evidence})" if evidence else "")
    return Verdict(
        code=code,
        severity=SEVERITY.get(code, Severity.CRITICAL),
        summary=summary[:1024],
        step=failure.step if failure else None,
        evidence={k: v for k, v in details.items() if v not in (None, "")},
    )


def _path(url: str) -> str:
    return urlsplit(url).path or url


def _at(failure: Failure) -> str:
    status = f" answered {failure.http_status}" if failure.http_status else " failed"
    return f"{_path(failure.url)}{status}"


# -- the rules, in order -------------------------------------------------------------------------
def logged_in(obs: Observation) -> Verdict | None:
    if obs.failure is not None:
        return None
    ms = sum(s.ms for s in obs.steps)
    sc = obs.secret_check
    if sc is not None and sc.outcome in ("expired", "invalid"):
        # Real logins work, so the hub's secret is fine: the check itself is set up wrong.
        return _verdict(
            obs,
            Code.OK,
            "logged in, but the secret check is misconfigured: the token "
            "endpoint rejects the credentials in the config while real logins work "
            "(check [hubs.NAME.oauth] client_secret and auth_method)",
            sc.evidence,
            None,
        )
    return _verdict(obs, Code.OK, ok_what(ms), "", None)


def ok_what(ms: int) -> str:
    """What a plain healthy probe says (the store rebuilds compact rows' summaries from it)."""
    return f"logged in and landed on the hub in {ms / 1000:.1f}s"


def ok_summary(hub: str, ms: int) -> str:
    return f"{hub}: {ok_what(ms)}"


def prober_broke(obs: Observation) -> Verdict | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.PROBE_ERROR:
        return None
    return _verdict(
        obs,
        Code.PROBE_ERROR,
        "the prober itself failed, not the hub — no verdict on the hub",
        f.detail,
        f,
    )


def timed_out(obs: Observation) -> Verdict | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.TIMEOUT:
        return None
    if f.step == "hub_start" and not any(s.http_status for s in obs.steps):
        return _verdict(
            obs, Code.HUB_UNREACHABLE, "hub unreachable — no answer from the hub", f.detail, f
        )
    who = "the IdP" if f.where == "idp" else "the hub"
    return _verdict(
        obs, Code.TIMEOUT, f"login timed out at step {f.step} — {who} did not answer", f.detail, f
    )


def unreachable(obs: Observation) -> Verdict | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.NETWORK:
        return None
    # Chromium names certificate problems net::ERR_CERT_* (expired, wrong name, untrusted CA).
    tls = " — its TLS certificate is not valid" if "ERR_CERT" in f.detail else ""
    if f.where == "idp":
        return _verdict(
            obs,
            Code.IDP_UNREACHABLE,
            f"login fails — the IdP's pages cannot be loaded{tls}",
            f.detail,
            f,
        )
    return _verdict(
        obs, Code.HUB_UNREACHABLE, f"hub unreachable at step {f.step}{tls}", f.detail, f
    )


def hub_failed_before_idp(obs: Observation) -> Verdict | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.HTTP or f.step not in ("hub_start", "hub_login"):
        return None
    return _verdict(
        obs,
        Code.HUB_ERROR,
        f"login fails — the hub answered {f.http_status} before sending anyone to the IdP",
        _at(f),
        f,
    )


def idp_error(obs: Observation) -> Verdict | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.IDP_ERROR:
        return None
    meaning = IDP_CODE_MEANING.get(f.code or "", "the IdP shows an error page")
    code = f"{f.code}: " if f.code else ""
    return _verdict(obs, Code.IDP_ERROR, f"login fails — {meaning}", f"{code}{f.detail}", f)


def login_rejected(obs: Observation) -> Verdict | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.LOGIN_REJECTED:
        return None
    return _verdict(
        obs,
        Code.LOGIN_REJECTED,
        "the IdP rejected the test account (the account, "
        "not the hub: check its password, lock and MFA)",
        f.detail,
        f,
    )


def flow_changed(obs: Observation) -> Verdict | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.FLOW_CHANGED:
        return None
    return _verdict(
        obs,
        Code.FLOW_CHANGED,
        f"the login page changed or the flow is wrong at step {f.step}",
        f.detail,
        f,
    )


def _callback_failure(obs: Observation) -> Failure | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.HTTP or f.step != "oauth_callback":
        return None
    return f


def secret_expired(obs: Observation) -> Verdict | None:
    f, sc = _callback_failure(obs), obs.secret_check
    if f is None or sc is None or sc.outcome != "expired":
        return None
    return _verdict(
        obs,
        Code.CLIENT_SECRET_EXPIRED,
        "login fails — OAuth client secret expired",
        f"{sc.evidence}; {_at(f)}",
        f,
    )


def secret_invalid(obs: Observation) -> Verdict | None:
    f, sc = _callback_failure(obs), obs.secret_check
    if f is None or sc is None or sc.outcome != "invalid":
        return None
    return _verdict(
        obs,
        Code.CLIENT_SECRET_INVALID,
        "login fails — the IdP rejects the OAuth client secret (wrong or rotated, not expired)",
        f"{sc.evidence}; {_at(f)}",
        f,
    )


def token_not_returned(obs: Observation) -> Verdict | None:
    """OAuthenticator's own words on the callback page: the IdP gave the hub no token.

    GitHub answers a bad client secret with 200 and an error body, which OAuthenticator turns into
    403 "An access token was not returned: The client_id and/or client_secret passed are
    incorrect." — a 403 that is about the hub's secret, not about the user.
    """
    f, sc = _callback_failure(obs), obs.secret_check
    if f is None or "access token was not returned" not in f.detail.lower():
        return None
    said = f.detail.split("returned:", 1)[-1].strip()
    text = f.detail.lower()
    if sc is not None and sc.outcome == "valid":
        return callback_failed(obs)  # the secret in the config works: the hub runs another one
    if "expired" in text and "secret" in text:
        return _verdict(
            obs, Code.CLIENT_SECRET_EXPIRED, "login fails — OAuth client secret expired", said, f
        )
    if any(w in text for w in ("client_secret", "client secret", "invalid_client", "client_id")):
        return _verdict(
            obs,
            Code.CLIENT_SECRET_INVALID,
            "login fails — the IdP rejects the hub's OAuth client id/secret "
            "(wrong, rotated or revoked)",
            said,
            f,
        )
    return _verdict(
        obs,
        Code.CALLBACK_ERROR,
        "every login fails at the callback: the IdP gave the hub no access token",
        said,
        f,
    )


def state_mismatch(obs: Observation) -> Verdict | None:
    """OAuthenticator's "OAuth state mismatch" / "OAuth state missing from cookies"."""
    f = _callback_failure(obs)
    if f is None or "oauth state" not in f.detail.lower():
        return None
    said = next(
        (p.strip() for p in f.detail.split("|") if "oauth state" in p.lower()), f.detail
    ).split(": ")[-1]
    return _verdict(
        obs,
        Code.CALLBACK_ERROR,
        f'every login fails at the callback with "{said}": the hub lost its OAuth state cookie '
        "between /hub/oauth_login and the callback (cookie settings, a proxy dropping cookies, or "
        "hub replicas that do not share a cookie secret)",
        _at(f),
        f,
    )


def access_denied(obs: Observation) -> Verdict | None:
    f = _callback_failure(obs)
    if f is None or f.http_status != 403:
        return None
    return _verdict(
        obs,
        Code.ACCESS_DENIED,
        "login fails — the hub refuses the logged-in test user "
        "(check the hub's allowed users/groups)",
        _at(f),
        f,
    )


def callback_failed(obs: Observation) -> Verdict | None:
    f, sc = _callback_failure(obs), obs.secret_check
    if f is None:
        return None
    if sc is not None and sc.outcome == "valid":
        return _verdict(
            obs,
            Code.CALLBACK_ERROR,
            f"every login fails at the callback "
            f"({_at(f)}) while the IdP accepts the client secret in this config: "
            "the hub is almost certainly running a different secret (a stale or "
            "reverted deployment) — redeploy it with the current one",
            sc.evidence,
            f,
        )
    cause = "no secret check configured" if sc is None else sc.detail
    return _verdict(
        obs,
        Code.CALLBACK_ERROR,
        "every login fails at the hub's OAuth callback after "
        f"a successful IdP login; cause not confirmed ({cause})",
        _at(f),
        f,
    )


def hub_failed_after_login(obs: Observation) -> Verdict | None:
    f = obs.failure
    if f is None or f.kind is not FailureKind.HTTP:
        return None
    return _verdict(
        obs,
        Code.HUB_ERROR,
        f"login fails — the hub failed after the login at step {f.step}",
        f.detail or _at(f),
        f,
    )


def unclassified(obs: Observation) -> Verdict:
    f = obs.failure
    detail = f"{f.kind}: {f.detail}" if f else "no failure recorded"
    return _verdict(obs, Code.PROBE_ERROR, "the prober could not classify what it saw", detail, f)


RULES: tuple[Rule, ...] = (
    logged_in,
    prober_broke,
    timed_out,
    unreachable,
    hub_failed_before_idp,
    idp_error,
    login_rejected,
    flow_changed,
    secret_expired,
    secret_invalid,
    token_not_returned,
    state_mismatch,
    access_denied,
    callback_failed,
    hub_failed_after_login,
)


def classify(obs: Observation) -> Verdict:
    for rule in RULES:
        verdict = rule(obs)
        if verdict is not None:
            return verdict
    return unclassified(obs)
