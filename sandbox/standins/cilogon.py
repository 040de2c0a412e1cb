"""STAND-IN for CILogon (cilogon.org/authorize, /oauth2/token, /oauth2/userinfo) and, behind it, one
member institution's Shibboleth login page.

CILogon's page by its public DOM: the identity-provider picker (`select#providerId`, "Log On"
`#wayflogonbutton`, "Remember this selection" `#keepidp`), filtered by the `selected_idp` parameter
OAuthenticator sends; then the institution's own login page (a Shibboleth IdP form: `#username`,
`#password`, `button[name=_eventId_proceed]`, and its own TOTP step when the account has a seed);
then back to the hub with a code. userinfo carries the
`idp` claim OAuthenticator's CILogonOAuthenticator requires. CILogon's own error page answers a bad
client or redirect_uri.
"""

from __future__ import annotations

import secrets
from html import escape
from typing import Any

from aiohttp import web

from sandbox.standins.core import Grant, Provider, hidden, html, redirect

COOKIE = "cilogon_session"
INSTITUTION = "https://idp.example.edu/idp/shibboleth"
INSTITUTIONS = {
    INSTITUTION: "Example University",
    "https://login.other.edu/idp": "Other College",
    "http://github.com/login/oauth/authorize": "GitHub",
    "http://google.com/accounts/o8/id": "Google",
}
DOMAIN = "example.edu"


def _error_page(message: str) -> web.Response:
    body = f"""<header><h1>CILogon</h1></header>
<div class="errorbox"><h2>CILogon Error</h2>
<p>There was an error with your request: invalid_request</p>
<p class="error-detail">{escape(message)}</p>
<p>Please send email to help@cilogon.org if you need assistance.</p></div>"""
    return html("CILogon - Error", body, status=400)


def _picker(pending: str, idps: list[str]) -> web.Response:
    options = "".join(
        f'<option value="{escape(e)}"{" selected" if i == 0 else ""}>{escape(INSTITUTIONS[e])}</option>'
        for i, e in enumerate(idps)
    )
    body = f"""<header><h1>CILogon</h1></header>
<div class="card"><h2>Consent to Attribute Release</h2>
<p>Sandbox Hub requests access to the following information.</p>
<form action="/authorize/select" method="post">{hidden(pending=pending)}
<label for="providerId">Select an Identity Provider</label>
<select name="providerId" id="providerId">{options}</select>
<input type="checkbox" name="keepidp" id="keepidp"><label for="keepidp">Remember this selection</label>
<input type="submit" name="submit" class="btn btn-primary" id="wayflogonbutton" value="Log On">
</form></div>"""
    return html("CILogon", body)


def _institution_login(pending: str, error: str = "") -> web.Response:
    err = (
        f'<section><p class="form-element form-error">{escape(error)}</p></section>'
        if error
        else ""
    )
    body = f"""<header><h1>Example University</h1><h2>Web Login Service</h2></header>
<form action="/idp/profile/SAML2/Redirect/SSO" method="post">{hidden(pending=pending)}{err}
<label for="username">Username</label><input id="username" name="j_username" type="text" autocomplete="username">
<label for="password">Password</label><input id="password" name="j_password" type="password" autocomplete="current-password">
<button type="submit" name="_eventId_proceed">Login</button></form>"""
    return html("Web Login Service", body)


def _institution_otp(pending: str, error: str = "") -> web.Response:
    err = (
        f'<section><p class="form-element form-error">{escape(error)}</p></section>'
        if error
        else ""
    )
    body = f"""<header><h1>Example University</h1><h2>Two-step verification</h2></header>
<form action="/idp/profile/SAML2/Redirect/SSO/mfa" method="post">{hidden(pending=pending)}{err}
<label for="otp">Code from your authenticator app</label>
<input id="otp" name="otp" type="text" autocomplete="one-time-code" inputmode="numeric">
<button type="submit" name="_eventId_proceed">Verify</button></form>"""
    return html("Web Login Service", body)


def make_app(p: Provider, middleware: Any) -> web.Application:
    pending: dict[str, dict[str, str]] = {}

    def take(token: str) -> dict[str, str]:
        req = pending.get(token)
        if req is None:
            raise web.HTTPBadRequest(text="unknown or expired CILogon transaction")
        return req

    async def authorize(request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != p.client_id:
            return _error_page(f"Unknown client_id: {q.get('client_id', '')}")
        if q.get("redirect_uri") != p.registered_redirect():
            return _error_page(
                "The redirect_uri parameter does not match any registered callback URL for "
                "this client."
            )
        token = secrets.token_urlsafe(16)
        pending[token] = {"redirect_uri": q["redirect_uri"], "state": q.get("state", "")}
        wanted = [e for e in q.get("selected_idp", "").split(",") if e in INSTITUTIONS]
        return _picker(token, wanted or list(INSTITUTIONS))

    async def select(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        req = take(str(form.get("pending", "")))
        req["idp"] = str(form.get("providerId", ""))
        if req["idp"] != INSTITUTION:
            return _error_page(
                f"{INSTITUTIONS.get(req['idp'], req['idp'])} is not reachable from the sandbox."
            )
        raise redirect(
            "/idp/profile/SAML2/Redirect/SSO", execution="e1s1", pending=str(form["pending"])
        )

    async def institution_page(request: web.Request) -> web.StreamResponse:
        take(request.query.get("pending", ""))
        return _institution_login(request.query["pending"])

    async def institution_login(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("pending", ""))
        req = take(token)
        if not p.password_ok(str(form.get("j_username", "")), str(form.get("j_password", ""))):
            return _institution_login(token, "The password you entered was incorrect.")
        if p.totp_secret:  # the institution's own MFA
            req["stage"] = "mfa"
            return _institution_otp(token)
        return finish(token, req)

    async def institution_mfa(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("pending", ""))
        req = take(token)
        if req.get("stage") != "mfa":
            raise web.HTTPBadRequest(text="no two-step verification in progress")
        if not p.totp_ok(str(form.get("otp", ""))):
            return _institution_otp(token, "Invalid code. Please try again.")
        return finish(token, req)

    def finish(token: str, req: dict[str, str]) -> web.StreamResponse:
        pending.pop(token, None)
        code = p.issue_code(Grant(p.client_id, req["redirect_uri"], p.username, idp=req["idp"]))
        raise redirect(req["redirect_uri"], code=code, state=req["state"])

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        client_id, secret = p.client_credentials(request, form)
        problem = p.check_client(client_id, secret)
        if problem is not None:
            desc = {
                "unknown": "unknown client",
                "wrong": "client authentication failed",
                "expired": "client secret is expired",
            }[problem]
            return web.json_response(
                {"error": "invalid_client", "error_description": desc}, status=401
            )
        grant = p.redeem(str(form.get("code", "")), client_id, str(form.get("redirect_uri", "")))
        if grant is None:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "invalid authorization grant"},
                status=400,
            )
        access = p.token_for(grant.user)
        p.tokens[access + ":idp"] = grant.idp or INSTITUTION  # the institution travels with it
        return web.json_response(
            {"access_token": access, "token_type": "Bearer", "expires_in": 900, "id_token": ""}
        )

    async def userinfo(request: web.Request) -> web.Response:
        user = p.bearer_user(request)
        if user is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        token = request.headers["Authorization"].partition(" ")[2]
        idp = p.tokens.get(token + ":idp", INSTITUTION)
        return web.json_response(
            {
                "sub": f"http://cilogon.org/serverA/users/{abs(hash(user)) % 100000}",
                "idp": idp,
                "idp_name": INSTITUTIONS.get(idp, idp),
                "email": f"{user}@{DOMAIN}",
                "eppn": f"{user}@{DOMAIN}",
                "given_name": user.title(),
            }
        )

    app = web.Application(middlewares=[middleware])
    app.router.add_get("/authorize", authorize)
    app.router.add_post("/authorize/select", select)
    app.router.add_get("/idp/profile/SAML2/Redirect/SSO", institution_page)
    app.router.add_post("/idp/profile/SAML2/Redirect/SSO", institution_login)
    app.router.add_post("/idp/profile/SAML2/Redirect/SSO/mfa", institution_mfa)
    app.router.add_post("/oauth2/token", token)
    app.router.add_get("/oauth2/userinfo", userinfo)
    return app
