"""secretcheck: reading token endpoints' answers (pure), and the shape of the request we send."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import parse_qs

import httpx
import pytest

from loginprobe.model import SecretCheck
from loginprobe.prober.secretcheck import INVALID_CODE, check_secret, interpret


def oauth_json(error: str, description: str | None = None, **extra: object) -> str:
    body: dict[str, object] = {"error": error}
    if description is not None:
        body["error_description"] = description
    body.update(extra)
    return json.dumps(body)


AZURE_EXPIRED = (
    "AADSTS7000222: The provided client secret keys for app '6f1c2a7e-0000-4a4b-9a1e-3b2f0c1d2e3f' "
    "are expired. Visit the Azure portal to create new keys for your app: "
    "https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: "
    "https://aka.ms/certCreds. Trace ID: 0b6f Correlation ID: 9c2e Timestamp: 2025-01-01 00:00:00Z"
)
AZURE_INVALID = (
    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
    "the client secret value, not the client secret ID, for a secret added to app "
    "'6f1c2a7e-0000-4a4b-9a1e-3b2f0c1d2e3f'. Trace ID: 0b6f Correlation ID: 9c2e"
)
GITHUB_BAD_CLIENT_FORM = (
    "error=incorrect_client_credentials&error_description=The+client_id+and%2For+client_secret+"
    "passed+are+incorrect.&error_uri=https%3A%2F%2Fdocs.github.com%2Fapps%2Fmanaging-oauth-apps"
)
GITHUB_BAD_CODE_FORM = (
    "error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired."
    "&error_uri=https%3A%2F%2Fdocs.github.com%2Fapps%2Fmanaging-oauth-apps"
)

INTERPRET_CASES = [
    pytest.param(
        400,
        oauth_json(
            "invalid_client",
            "could not authenticate the client - its client secret is expired",
        ),
        "expired",
        "invalid_client",
        id="oidc-provider-expired",
    ),
    pytest.param(
        401,
        oauth_json("invalid_client", "client authentication failed"),
        "invalid",
        "invalid_client",
        id="oidc-provider-invalid",
    ),
    pytest.param(
        400,
        oauth_json("invalid_grant", "grant request is invalid"),
        "valid",
        "invalid_grant",
        id="oidc-provider-good-credentials",
    ),
    pytest.param(
        401,
        oauth_json("invalid_client", AZURE_EXPIRED, error_codes=[7000222]),
        "expired",
        "invalid_client",
        id="azure-AADSTS7000222-expired",
    ),
    pytest.param(
        401,
        oauth_json("invalid_client", AZURE_INVALID, error_codes=[7000215]),
        "invalid",
        "invalid_client",
        id="azure-AADSTS7000215-invalid",
    ),
    pytest.param(
        400,
        oauth_json(
            "invalid_grant",
            "AADSTS70000: The provided value for the 'code' parameter is not valid.",
            error_codes=[70000],
        ),
        "valid",
        "invalid_grant",
        id="azure-AADSTS70000-bad-code",
    ),
    pytest.param(
        400,
        oauth_json(
            "invalid_grant",
            "AADSTS9002313: Invalid request. Request is malformed or invalid.",
            error_codes=[9002313],
        ),
        "valid",
        "invalid_grant",
        id="azure-AADSTS9002313-malformed-code",
    ),
    pytest.param(
        200,
        GITHUB_BAD_CLIENT_FORM,
        "invalid",
        "incorrect_client_credentials",
        id="github-form-bad-client",
    ),
    pytest.param(
        200,
        oauth_json(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        ),
        "invalid",
        "incorrect_client_credentials",
        id="github-json-bad-client",
    ),
    pytest.param(
        200, GITHUB_BAD_CODE_FORM, "valid", "bad_verification_code", id="github-form-bad-code"
    ),
    pytest.param(
        200,
        oauth_json("bad_verification_code", "The code passed is incorrect or expired."),
        "valid",
        "bad_verification_code",
        id="github-json-bad-code",
    ),
    pytest.param(
        400,
        oauth_json("unauthorized_client", "client not recognised"),
        "invalid",
        "unauthorized_client",
        id="unauthorized_client",
    ),
    pytest.param(
        400, oauth_json("invalid_code", "no such code"), "valid", "invalid_code", id="invalid_code"
    ),
    pytest.param(
        400,
        oauth_json("invalid_grant", "authorization code expired"),
        "valid",
        "invalid_grant",
        id="invalid_grant-code-expired-is-not-secret-expired",
    ),
    pytest.param(
        500,
        "<html><body><h1>500 Internal Server Error</h1></body></html>",
        "inconclusive",
        None,
        id="500-html",
    ),
    pytest.param(200, "", "inconclusive", None, id="200-empty"),
    pytest.param(
        400,
        oauth_json("invalid_request", "missing parameter"),
        "inconclusive",
        "invalid_request",
        id="unknown-error-invalid_request",
    ),
    pytest.param(401, "Unauthorized", "invalid", None, id="bare-401-text"),
    # LemonLDAP::NG 2.16 (Debian's), as its token endpoint answers the invalid code
    # (tests/integration/test_lemonldap.py asks the real one): it authenticates the client first,
    # then looks the code up, and says no more than the error. A bad secret in the body is 400,
    # by HTTP Basic 401 (with WWW-Authenticate: Basic). It has no expiry date for a client
    # secret, so it never answers "expired": a rotated-away secret reads as invalid.
    pytest.param(400, '{"error":"invalid_grant"}', "valid", "invalid_grant", id="lemonldap-good"),
    pytest.param(
        400, '{"error":"invalid_client"}', "invalid", "invalid_client", id="lemonldap-wrong-post"
    ),
    pytest.param(
        401, '{"error":"invalid_client"}', "invalid", "invalid_client", id="lemonldap-wrong-basic"
    ),
]


@pytest.mark.parametrize(("status", "body", "outcome", "error"), INTERPRET_CASES)
def test_interpret_reads_the_token_endpoint_answer(
    status: int, body: str, outcome: str, error: str | None
) -> None:
    sc = interpret(status, body)
    assert sc.outcome == outcome
    assert sc.error == error
    assert sc.http_status == status
    assert sc.detail


def test_interpret_keeps_azure_code_in_detail_and_description_for_evidence() -> None:
    sc = interpret(401, oauth_json("invalid_client", AZURE_EXPIRED))
    assert sc.detail == "the token endpoint says the client secret has expired (AADSTS7000222)"
    assert sc.evidence.startswith('token endpoint: invalid_client "AADSTS7000222: ')


def test_interpret_names_azure_code_for_an_invalid_secret() -> None:
    sc = interpret(401, oauth_json("invalid_client", AZURE_INVALID))
    assert sc.detail == "the token endpoint rejects the client credentials (AADSTS7000215)"


def test_interpret_decodes_github_form_encoded_description() -> None:
    sc = interpret(200, GITHUB_BAD_CLIENT_FORM)
    assert sc.description == "The client_id and/or client_secret passed are incorrect."


def test_interpret_squashes_whitespace_and_trims_long_descriptions() -> None:
    sc = interpret(401, oauth_json("invalid_client", "client\n  authentication\tfailed " * 50))
    assert sc.description is not None
    assert "\n" not in sc.description
    assert "  " not in sc.description
    assert len(sc.description) <= 300


@pytest.mark.parametrize(
    ("status", "body", "phrase"),
    [
        (500, "<html>oops</html>", "HTTP 500 from the token endpoint"),
        (200, "", "HTTP 200 without an OAuth error"),
        (400, oauth_json("invalid_request"), "error invalid_request"),
    ],
)
def test_inconclusive_detail_says_why(status: int, body: str, phrase: str) -> None:
    sc = interpret(status, body)
    assert sc.outcome == "inconclusive"
    assert sc.detail == f"cannot tell whether the secret is good: {phrase}"


def test_bare_401_mentioning_an_expired_secret_is_expired() -> None:
    assert interpret(401, "Client secret has expired").outcome == "expired"


def test_non_object_json_is_inconclusive() -> None:
    assert interpret(400, json.dumps(["invalid_client"])).outcome == "inconclusive"


# -- check_secret: what we send ------------------------------------------------------------------
TOKEN_URL = "https://idp.example.org/token"
REDIRECT_URI = "https://hub.example.org/hub/oauth_callback"
SECRET = "s3cr3t-Value+with/odd=chars"


def run_check(transport: httpx.MockTransport, auth_method: str) -> SecretCheck:
    async def go() -> SecretCheck:
        async with httpx.AsyncClient(transport=transport) as client:
            return await check_secret(
                client,
                token_url=TOKEN_URL,
                client_id="hub-client",
                client_secret=SECRET,
                redirect_uri=REDIRECT_URI,
                auth_method=auth_method,
            )

    return asyncio.run(go())


def capture() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(400, json={"error": "invalid_grant"})

    return seen, httpx.MockTransport(handler)


def test_client_secret_post_sends_credentials_in_the_form_body_and_no_authorization() -> None:
    seen, transport = capture()
    result = run_check(transport, "client_secret_post")
    assert len(seen) == 1
    req = seen[0]
    assert req.method == "POST"
    assert str(req.url) == TOKEN_URL
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.headers["accept"] == "application/json"
    assert "authorization" not in req.headers
    form = {k: v[0] for k, v in parse_qs(req.content.decode()).items()}
    assert form == {
        "grant_type": "authorization_code",
        "code": INVALID_CODE,
        "redirect_uri": REDIRECT_URI,
        "client_id": "hub-client",
        "client_secret": SECRET,
    }
    assert result.outcome == "valid"


def test_client_secret_basic_sends_http_basic_and_no_secret_in_the_body() -> None:
    seen, transport = capture()
    run_check(transport, "client_secret_basic")
    req = seen[0]
    scheme, _, token = req.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"hub-client:{SECRET}"
    form = parse_qs(req.content.decode())
    assert "client_secret" not in form
    assert SECRET not in req.content.decode()
    assert form["code"] == [INVALID_CODE]
    assert form["redirect_uri"] == [REDIRECT_URI]
    assert form["grant_type"] == ["authorization_code"]


def test_check_secret_interprets_the_answer_and_times_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "error": "invalid_client",
                "error_description": "could not authenticate the client - its client secret "
                "is expired",
            },
        )

    result = run_check(httpx.MockTransport(handler), "client_secret_post")
    assert result.outcome == "expired"
    assert result.http_status == 400
    assert isinstance(result.ms, int)


@pytest.mark.parametrize(
    ("exc", "phrase"),
    [
        (httpx.ConnectError("connection refused"), "token endpoint unreachable: ConnectError"),
        (httpx.ReadTimeout("timed out"), "did not answer in time"),
    ],
)
def test_unreachable_token_endpoint_is_inconclusive_without_the_secret(
    exc: Exception, phrase: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    result = run_check(httpx.MockTransport(handler), "client_secret_post")
    assert result.outcome == "inconclusive"
    detail = result.detail
    assert phrase in detail
    assert SECRET not in detail
    assert SECRET not in repr(result)
