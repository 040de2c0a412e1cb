"""STAND-IN for Microsoft Entra ID (Azure AD) sign-in, login.microsoftonline.com/<tenant>/oauth2/v2.0.

Pages as Microsoft serves them, by their public ids: the email page (`input[name=loginfmt]`, Next
`#idSIButton9`, `#usernameError`), the password page (`input[name=passwd]`, `#passwordError`), the
verification-code page (`input[name=otc]`, `#idSubmit_SAOTCC_Continue`), "Approve sign in request"
(push MFA), "Stay signed in?" (`#idBtn_Back` No, `#idSIButton9` Yes) and the error page with an
AADSTS code. Switch `new_ui` serves the newer sign-in UI (`#usernameEntry`, `#passwordEntry`,
`[data-testid=primaryButton]`). The token endpoint answers like Entra ID: invalid_client with
AADSTS7000215 (wrong secret) or AADSTS7000222 (expired secret), invalid_grant for a bad code.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from html import escape
from typing import Any

import jwt
from aiohttp import web

from sandbox.standins.core import Grant, Provider, hidden, html, redirect

COOKIE = "ESTSAUTH"

AADSTS = {
    "AADSTS50011": "The redirect URI '{redirect}' specified in the request does not match the "
    "redirect URIs configured for the application '{client}'. Make sure the redirect URI sent "
    "in the request matches one added to your application in the Azure portal.",
    "AADSTS700016": "Application with identifier '{client}' was not found in the directory "
    "'Sandbox'. This can happen if the application has not been installed by the administrator "
    "of the tenant or consented to by any user in the tenant.",
    "AADSTS50105": "Your administrator has configured the application ('{client}') to block "
    "users unless they are specifically granted ('assigned') access to the application. The "
    "signed in user '{user}' is blocked because they are not a direct member of a group with "
    "access, nor had access directly assigned by an administrator.",
    "AADSTS50126": "Error validating credentials due to invalid username or password.",
    "AADSTS53003": "Access has been blocked by Conditional Access policies.",
}


def _error_page(code: str, **fmt: str) -> web.Response:
    message = AADSTS.get(code, "An error occurred.").format(**fmt)
    body = f"""
<div id="lightbox"><div class="logo">Microsoft</div>
<div id="loginHeader" role="heading">Sign in</div>
<div id="idTD_Error" class="error-title">Sorry, but we're having trouble signing you in.</div>
<div id="idTD_Error_Details"><span id="errorMessage">{escape(code)}: {escape(message)}</span></div>
<div id="debugDetailsBanner"><div>Troubleshooting details</div>
<div>Request Id: {uuid.uuid4()}</div><div>Correlation Id: {uuid.uuid4()}</div>
<div>Timestamp: {time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}</div></div></div>"""
    return html("Sign in to your account", body, status=400 if code != "AADSTS50105" else 200)


def _login_page(
    p: Provider, base: str, flow: str, new_ui: bool, stage: str, error: str = ""
) -> web.Response:
    """Email page; Next asks GetCredentialType and reveals the password page without navigating."""
    if new_ui:
        user_input = '<input id="usernameEntry" type="email" name="loginfmt" autocomplete="username" aria-label="Email, phone, or Skype">'
        pass_input = '<input id="passwordEntry" type="password" name="passwd" autocomplete="current-password" aria-label="Password">'
        next_btn = '<button type="button" id="next" data-testid="primaryButton">Next</button>'
        sign_btn = '<button type="submit" data-testid="primaryButton">Sign in</button>'
    else:
        user_input = '<input type="email" name="loginfmt" id="i0116" autocomplete="username" aria-label="Email, phone, or Skype">'
        pass_input = '<input type="password" name="passwd" id="i0118" autocomplete="off" aria-label="Password">'
        next_btn = '<input type="button" id="idSIButton9" value="Next">'
        sign_btn = '<input type="submit" id="idSIButton9" value="Sign in">'
    show_password = stage == "password"
    password_error = f'<div id="passwordError" role="alert">{escape(error)}</div>' if error else ""
    body = f"""
<div class="logo">Microsoft</div>
<form method="post" action="{base}/login" id="f1" novalidate>
 {hidden(flowToken=flow)}
 <section id="userSection" {"hidden" if show_password else ""}>
  <div role="heading">Sign in</div>
  <div id="usernameError" role="alert" hidden></div>
  {user_input}
  {next_btn}
 </section>
 <section id="passwordSection" {"" if show_password else "hidden"}>
  <div role="heading">Enter password</div>
  {password_error}
  {pass_input}
  {sign_btn}
 </section>
</form>
<script>
const form = document.getElementById('f1');
const user = form.querySelector('[name=loginfmt]');
const nextButton = document.querySelector('#userSection [type=button]');
nextButton.addEventListener('click', async () => {{
  const r = await fetch('{base}/GetCredentialType', {{method: 'POST', body: JSON.stringify({{username: user.value}})}});
  const info = await r.json();
  const err = document.getElementById('usernameError');
  if (info.IfExistsResult !== 0) {{
    err.textContent = "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.";
    err.hidden = false;
    return;
  }}
  document.getElementById('userSection').hidden = true;
  document.getElementById('passwordSection').hidden = false;
}});
</script>"""
    if show_password:
        body = body.replace('name="loginfmt"', f'name="loginfmt" value="{escape(p.username)}"', 1)
    return html("Sign in to your account", body)


def _otc_page(base: str, flow: str, error: bool = False) -> web.Response:
    err = (
        '<div id="idSpan_SAOTCC_Error_OTC" role="alert">You didn\'t enter the expected '
        "verification code. Please try again.</div>"
        if error
        else ""
    )
    body = f"""
<div id="idDiv_SAOTCC_Title" role="heading">Enter code</div>
<div id="idDiv_SAOTCC_Description">Enter the code displayed in the authenticator app on your
mobile device</div>
<form method="post" action="{base}/SAS/ProcessAuth">{hidden(flowToken=flow)}{err}
<input name="otc" id="idTxtBx_SAOTCC_OTC" type="tel" autocomplete="off" aria-label="Code">
<input type="submit" id="idSubmit_SAOTCC_Continue" value="Verify"></form>"""
    return html("Sign in to your account", body)


def _push_page() -> web.Response:
    body = """
<div id="idDiv_SAOTCAS_Title" role="heading">Approve sign in request</div>
<div id="idDiv_SAOTCAS_Description">Open your Authenticator app, and enter the number shown to
sign in.</div><div id="idRichContext_DisplaySign">42</div>
<a id="signInAnotherWay" href="#">I can't use my Microsoft Authenticator app right now</a>"""
    return html("Sign in to your account", body)


def _kmsi_page(base: str, flow: str) -> web.Response:
    body = f"""
<div role="heading">Stay signed in?</div>
<div>Do this to reduce the number of times you are asked to sign in.</div>
<form method="post" action="{base}/kmsi">{hidden(flowToken=flow)}
<input type="checkbox" id="KmsiCheckboxField" name="DontShowAgain"><label for="KmsiCheckboxField">Don't show this again</label>
<input type="submit" id="idBtn_Back" name="answer" value="No">
<input type="submit" id="idSIButton9" name="answer" value="Yes"></form>"""
    return html("Sign in to your account", body)


def make_app(p: Provider, middleware: Any) -> web.Application:
    # flowToken -> the authorize request it belongs to, and how far the login got.
    flows: dict[str, dict[str, Any]] = {}

    def base(request: web.Request) -> str:
        return f"/{request.match_info['tenant']}/oauth2/v2.0"

    def flow_of(form: Any) -> dict[str, Any]:
        f = flows.get(str(form.get("flowToken", "")))
        if f is None:
            raise web.HTTPBadRequest(text="AADSTS90014: The required field 'flowToken' is missing.")
        return f

    def finish(f: dict[str, Any]) -> web.StreamResponse:
        code = p.faults.get("aadsts")
        if code:
            return _error_page(str(code), client=p.client_id, user=p.username, redirect="")
        auth_code = p.issue_code(Grant(p.client_id, f["redirect_uri"], p.username, f.get("nonce")))
        raise redirect(
            f["redirect_uri"], code=auth_code, state=f["state"], session_state=str(uuid.uuid4())
        )

    async def authorize(request: web.Request) -> web.StreamResponse:
        q = request.query
        client, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        if client != p.client_id:
            return _error_page("AADSTS700016", client=client)
        if redirect_uri != p.registered_redirect():
            return _error_page("AADSTS50011", client=client, redirect=redirect_uri)
        token = secrets.token_urlsafe(16)
        flows[token] = {
            "redirect_uri": redirect_uri,
            "state": q.get("state", ""),
            "nonce": q.get("nonce"),
            "new_ui": bool(p.faults.get("new_ui")),
        }
        return _login_page(p, base(request), token, flows[token]["new_ui"], "username")

    async def credential_type(request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        known = str(body.get("username", "")).strip().lower() in p.usernames()
        return web.json_response(
            {"Username": body.get("username"), "IfExistsResult": 0 if known else 1}
        )

    async def login(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        f = flow_of(form)
        if not p.password_ok(str(form.get("loginfmt", "")), str(form.get("passwd", ""))):
            return _login_page(
                p,
                base(request),
                str(form["flowToken"]),
                f["new_ui"],
                "password",
                "Your account or password is incorrect. If you don't remember your password, "
                "reset it now.",
            )
        if p.faults.get("mfa_push"):
            return _push_page()
        if p.totp_secret:
            f["stage"] = "otc"
            return _otc_page(base(request), str(form["flowToken"]))
        f["stage"] = "kmsi"
        return _kmsi_page(base(request), str(form["flowToken"]))

    async def process_auth(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        f = flow_of(form)
        if f.get("stage") != "otc":
            raise web.HTTPBadRequest()
        if not p.totp_ok(str(form.get("otc", ""))):
            return _otc_page(base(request), str(form["flowToken"]), error=True)
        f["stage"] = "kmsi"
        return _kmsi_page(base(request), str(form["flowToken"]))

    async def kmsi(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        f = flow_of(form)
        if f.get("stage") != "kmsi":
            raise web.HTTPBadRequest()
        flows.pop(str(form["flowToken"]), None)
        return finish(f)

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        client_id, secret = p.client_credentials(request, form)

        def error(status: int, err: str, code: int, text: str) -> web.Response:
            return web.json_response(
                {
                    "error": err,
                    "error_description": f"AADSTS{code}: {text} Trace ID: {uuid.uuid4()} "
                    f"Correlation ID: {uuid.uuid4()} Timestamp: "
                    f"{time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}",
                    "error_codes": [code],
                    "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                },
                status=status,
            )

        problem = p.check_client(client_id, secret)
        if problem == "unknown":
            return error(
                400, "unauthorized_client", 700016, AADSTS["AADSTS700016"].format(client=client_id)
            )
        if problem == "wrong":
            return error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        if problem == "expired":
            return error(
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{client_id}' are expired. Visit the "
                "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret",
            )
        grant = p.redeem(str(form.get("code", "")), client_id, str(form.get("redirect_uri", "")))
        if grant is None:
            return error(
                400,
                "invalid_grant",
                70000,
                "The provided value for the 'code' parameter is not valid.",
            )
        now = int(p.now())
        id_token = jwt.encode(
            {
                "aud": client_id,
                "iss": f"{request.scheme}://{request.host}/{request.match_info['tenant']}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": grant.user,
                "preferred_username": grant.user,
                "oid": str(uuid.uuid5(uuid.NAMESPACE_DNS, grant.user)),
                "tid": request.match_info["tenant"],
                **({"nonce": grant.nonce} if grant.nonce else {}),
            },
            secrets.token_hex(32),
            algorithm="HS256",
        )
        return web.json_response(
            {
                "token_type": "Bearer",
                "scope": "openid profile email",
                "expires_in": 3599,
                "access_token": p.token_for(grant.user),
                "id_token": id_token,
            }
        )

    app = web.Application(middlewares=[middleware])
    app.router.add_get("/{tenant}/oauth2/v2.0/authorize", authorize)
    app.router.add_post("/{tenant}/oauth2/v2.0/GetCredentialType", credential_type)
    app.router.add_post("/{tenant}/oauth2/v2.0/login", login)
    app.router.add_post("/{tenant}/oauth2/v2.0/SAS/ProcessAuth", process_auth)
    app.router.add_post("/{tenant}/oauth2/v2.0/kmsi", kmsi)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    return app
