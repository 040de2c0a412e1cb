"""STAND-IN for GitHub's OAuth app login (github.com/login/oauth/*, api.github.com/user as a GitHub
Enterprise-style /api/v3 so OAuthenticator's `github_url` points at it).

Pages by GitHub's public DOM: /login (`#login_field`, `#password`, `input[name=commit]`, the
"Incorrect username or password." flash), two-factor (`#app_totp`), the emailed device-verification
page, and "Authorize <app>" (`button[name=authorize]`, disabled for a moment by script as GitHub
does). Errors go back to the callback as GitHub sends them (redirect_uri_mismatch,
application_suspended, access_denied). The token endpoint answers 200 with `error` in the body
(incorrect_client_credentials, bad_verification_code), as GitHub documents.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from sandbox.standins.core import Grant, Provider, hidden, html, redirect

COOKIE = "user_session"
APP_NAME = "Sandbox Hub"
DOCS = "https://docs.github.com/apps/managing-oauth-apps"


def _flash(message: str) -> str:
    if not message:
        return ""
    return (
        '<div id="js-flash-container"><div class="flash flash-full flash-error" role="alert">'
        f"{escape(message)}</div></div>"
    )


def _login_page(return_to: str, error: str = "") -> web.Response:
    body = f"""
<div class="auth-form"><h1>Sign in to GitHub</h1>{_flash(error)}
<form action="/session" method="post">{hidden(return_to=return_to)}
<label for="login_field">Username or email address</label>
<input type="text" name="login" id="login_field" autocomplete="username" autocapitalize="off">
<label for="password">Password</label>
<input type="password" name="password" id="password" autocomplete="current-password">
<input type="submit" name="commit" value="Sign in" class="btn btn-primary btn-block">
</form></div>"""
    return html("Sign in to GitHub · GitHub", body)


def _two_factor_page(error: str = "") -> web.Response:
    body = f"""
<div class="auth-form"><h1>Two-factor authentication</h1>{_flash(error)}
<form action="/sessions/two-factor" method="post">
<label for="app_totp">Authentication code</label>
<input type="text" name="app_otp" id="app_totp" autocomplete="one-time-code" inputmode="numeric"
 placeholder="XXXXXX">
<button type="submit" class="btn btn-primary btn-block">Verify</button>
</form><p>Open your two-factor authenticator (TOTP) app or browser extension to view your
authentication code.</p></div>"""
    return html("Two-factor authentication · GitHub", body)


def _device_page() -> web.Response:
    body = """
<div class="auth-form"><h1>Device verification</h1>
<form action="/sessions/verified-device" method="post">
<p>Email: We just sent your authentication code via email to s*****@example.edu. The code will
expire at 10:15 UTC.</p>
<label for="otp">Device Verification Code</label>
<input type="text" name="otp" id="otp" autocomplete="one-time-code">
<button type="submit" class="btn btn-primary btn-block">Verify</button></form></div>"""
    return html("Device verification · GitHub", body)


def _authorize_page(query: dict[str, str], user: str) -> web.Response:
    body = f"""
<div class="oauth"><h2>Authorize {escape(APP_NAME)}</h2>
<p><strong>{escape(APP_NAME)}</strong> by <strong>sandbox</strong> wants to access your
<strong>{escape(user)}</strong> account</p>
<form action="/login/oauth/authorize" method="post">{hidden(**query)}
<button type="submit" name="authorize" value="0" class="btn">Cancel</button>
<button type="submit" name="authorize" value="1" class="btn btn-primary" id="js-oauth-authorize-btn"
 disabled>Authorize sandbox</button></form>
<p>Authorizing will redirect to {escape(query.get("redirect_uri", ""))}</p></div>
<script>setTimeout(() => {{ document.getElementById('js-oauth-authorize-btn').disabled = false; }}, 700);</script>"""
    return html("Authorize application · GitHub", body)


def make_app(p: Provider, middleware: Any) -> web.Application:
    authorized: set[str] = set()  # users who authorized the app once (GitHub remembers it)

    def user_of(request: web.Request) -> str | None:
        s = p.session(request, COOKIE)
        return s.get("user") if s.get("stage") == "done" else None

    def oauth_query(q: Any) -> dict[str, str]:
        return {k: str(q[k]) for k in ("client_id", "redirect_uri", "scope", "state") if k in q}

    def back(q: dict[str, str], **params: str) -> web.HTTPFound:
        if "state" in q:
            params["state"] = q["state"]
        return redirect(q.get("redirect_uri") or p.redirect_uri, **params)

    async def authorize(request: web.Request) -> web.StreamResponse:
        q = oauth_query(request.query if request.method == "GET" else await request.post())
        if q.get("client_id") != p.client_id:
            return html(
                "Page not found · GitHub",
                "<h1>404</h1><p>This is not the web page you are looking for.</p>",
                status=404,
            )
        if q.get("redirect_uri", p.registered_redirect()) != p.registered_redirect():
            # GitHub sends the browser to the app's registered callback with the error.
            raise redirect(
                p.registered_redirect(),
                error="redirect_uri_mismatch",
                error_description="The redirect_uri MUST match the registered callback URL for "
                "this application.",
                error_uri=f"{DOCS}/troubleshooting-authorization-request-errors/#redirect-uri-mismatch",
                **({"state": q["state"]} if "state" in q else {}),
            )
        if p.faults.get("app_suspended"):
            raise back(
                q,
                error="application_suspended",
                error_description="Your application has been suspended. Contact support@github.com.",
                error_uri=f"{DOCS}/troubleshooting-authorization-request-errors/#application-suspended",
            )
        user = user_of(request)
        if user is None:
            raise redirect(
                "/login", client_id=p.client_id, return_to="/login/oauth/authorize?" + urlencode(q)
            )
        if request.method == "POST":
            form = await request.post()
            if form.get("authorize") != "1":
                raise back(
                    q,
                    error="access_denied",
                    error_description="The user has denied your application access.",
                    error_uri=f"{DOCS}/troubleshooting-authorization-request-errors/#access-denied",
                )
            authorized.add(user)
        elif user not in authorized or p.faults.get("authorize_app"):
            return _authorize_page(q, user)
        code = p.issue_code(Grant(p.client_id, q.get("redirect_uri", p.redirect_uri), user))
        raise back(q, code=code)

    async def login_page(request: web.Request) -> web.StreamResponse:
        return _login_page(request.query.get("return_to", "/"))

    async def session(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        return_to = str(form.get("return_to", "/"))
        if not p.password_ok(str(form.get("login", "")), str(form.get("password", ""))):
            return _login_page(return_to, "Incorrect username or password.")
        stage = "done"
        target = return_to
        if p.faults.get("device_verification"):
            stage, target = "device", "/sessions/verified-device"
        elif p.totp_secret:
            stage, target = "2fa", "/sessions/two-factor/app"
        response = web.HTTPFound(target)
        p.start_session(response, COOKIE, user=p.username, stage=stage, return_to=return_to)
        raise response

    async def two_factor_page(request: web.Request) -> web.StreamResponse:
        if p.session(request, COOKIE).get("stage") != "2fa":
            raise web.HTTPFound("/login")
        return _two_factor_page()

    async def two_factor(request: web.Request) -> web.StreamResponse:
        s = p.session(request, COOKIE)
        if s.get("stage") != "2fa":
            raise web.HTTPFound("/login")
        form = await request.post()
        if not p.totp_ok(str(form.get("app_otp", ""))):
            return _two_factor_page("Two-factor authentication failed.")
        s["stage"] = "done"
        raise web.HTTPFound(s["return_to"])

    async def device(request: web.Request) -> web.StreamResponse:
        return _device_page()

    async def access_token(request: web.Request) -> web.Response:
        form = await request.post()
        client_id, secret = p.client_credentials(request, form)
        if p.check_client(client_id, secret) is not None:
            body = {
                "error": "incorrect_client_credentials",
                "error_description": "The client_id and/or client_secret passed are incorrect.",
                "error_uri": f"{DOCS}/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials",
            }
        else:
            grant = p.redeem(
                str(form.get("code", "")),
                client_id,
                form.get("redirect_uri") and str(form["redirect_uri"]),
            )  # type: ignore[arg-type]
            if grant is None:
                body = {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": f"{DOCS}/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code",
                }
            else:
                body = {
                    "access_token": "gho_" + p.token_for(grant.user),
                    "token_type": "bearer",
                    "scope": "",
                }
        # GitHub answers 200 either way; JSON when asked for it, else form-encoded.
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response(body)
        return web.Response(text=urlencode(body), content_type="application/x-www-form-urlencoded")

    async def api_user(request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = (
            p.tokens.get(token.removeprefix("gho_"))
            if scheme.lower() in ("bearer", "token")
            else None
        )
        if user is None:
            return web.json_response(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                status=401,
            )
        return web.json_response({"login": user, "id": 1001, "name": user.title(), "email": None})

    app = web.Application(middlewares=[middleware])
    app.router.add_route("GET", "/login/oauth/authorize", authorize)
    app.router.add_route("POST", "/login/oauth/authorize", authorize)
    app.router.add_get("/login", login_page)
    app.router.add_post("/session", session)
    app.router.add_get("/sessions/two-factor/app", two_factor_page)
    app.router.add_post("/sessions/two-factor", two_factor)
    app.router.add_get("/sessions/verified-device", device)
    app.router.add_post("/login/oauth/access_token", access_token)
    app.router.add_get("/api/v3/user", api_user)
    return app
