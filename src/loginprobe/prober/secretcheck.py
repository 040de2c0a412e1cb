"""The secret check: is the hub's OAuth client secret still accepted by the token endpoint?

One POST with the hub's real client credentials and a deliberately invalid authorization code.
Client authentication comes before the grant (RFC 6749 §5.2), so an error about the code means the
credentials are good and a client-authentication error means they are not. No user, no side effect.
Servers word this differently; anything we cannot read is "inconclusive", and inconclusive never pages.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import httpx

from loginprobe.model import SecretCheck
from loginprobe.prober.gist import gist

# A code no server ever issued; recognisable in the IdP's logs.
INVALID_CODE = "loginprobe-secret-check-invalid-code"

CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client", "incorrect_client_credentials"})
GRANT_ERRORS = frozenset({"invalid_grant", "bad_verification_code", "invalid_code"})
# Azure AD: AADSTS7000222 expired secret; AADSTS7000215 invalid secret.
_EXPIRED = re.compile(r"AADSTS7000222|secret[^.]{0,40}\bexpired|expired[^.]{0,40}secret", re.I)
_AADSTS = re.compile(r"AADSTS\d+")
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def interpret(status: int, body: str) -> SecretCheck:
    """Pure: what a token endpoint's answer to the invalid-code request says about the secret."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # GitHub answers form-encoded unless asked for JSON; we ask, but be lenient.
        data = dict(httpx.QueryParams(body)) if "error=" in body else {}
    error = data.get("error")
    description = data.get("error_description")
    error = error if isinstance(error, str) else None
    codes = _AADSTS.findall(description if isinstance(description, str) else "")
    expired = _EXPIRED.search(
        f"{description if isinstance(description, str) else ''} {body[:2000]}"
    )
    # The server's words reach the summary: quoted like a page (gist), the code only if it is one.
    description = gist(description, limit=300) if isinstance(description, str) else None
    error = error if error is None or _ERROR_CODE.fullmatch(error) else gist(error, limit=64)
    code_note = f" ({codes[0]})" if codes else ""

    if error in CLIENT_ERRORS or (error is None and status == 401):
        if expired:
            return SecretCheck(
                "expired",
                status,
                error,
                description,
                f"the token endpoint says the client secret has expired{code_note}",
            )
        return SecretCheck(
            "invalid",
            status,
            error,
            description,
            f"the token endpoint rejects the client credentials{code_note}",
        )
    if error in GRANT_ERRORS:
        return SecretCheck(
            "valid",
            status,
            error,
            description,
            "the token endpoint accepts the client credentials (it only rejected "
            "the deliberately invalid code)",
        )
    if error:
        what = f"error {error}"
    elif status >= 500:
        what = f"HTTP {status} from the token endpoint"
    else:
        what = f"HTTP {status} without an OAuth error"
    return SecretCheck(
        "inconclusive",
        status,
        error,
        description,
        f"cannot tell whether the secret is good: {what}",
    )


async def check_secret(
    client: httpx.AsyncClient,
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    auth_method: str = "client_secret_post",
) -> SecretCheck:
    """POST the invalid code with the hub's credentials, authenticated the way the hub does."""
    form = {"grant_type": "authorization_code", "code": INVALID_CODE, "redirect_uri": redirect_uri}
    headers = {"Accept": "application/json"}
    if auth_method == "client_secret_basic":
        # As OAuthenticator's basic_auth does it: id:secret, base64, not form-encoded first.
        token = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    else:
        form.update(client_id=client_id, client_secret=client_secret)
    started = time.monotonic()
    try:
        resp = await client.post(token_url, data=form, headers=headers)
    except httpx.TimeoutException:
        return SecretCheck(
            "inconclusive",
            detail="the token endpoint did not answer in time",
            ms=round((time.monotonic() - started) * 1000),
        )
    except httpx.HTTPError as err:
        # The message of a connection error names the host, never the request body.
        return SecretCheck(
            "inconclusive",
            detail=f"token endpoint unreachable: {type(err).__name__}",
            ms=round((time.monotonic() - started) * 1000),
        )
    result = interpret(resp.status_code, resp.text)
    return SecretCheck(
        result.outcome,
        result.http_status,
        result.error,
        result.description,
        result.detail,
        ms=round((time.monotonic() - started) * 1000),
    )
