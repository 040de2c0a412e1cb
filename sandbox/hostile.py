"""The hostile-page corpus: pages that carry every leak found in loginprobe's outputs so far, and
the ones we could think of, served by the sandbox's hub and IdP when the `hostile` fault is on.

    sb.set_fault("hostile", "hub")         # /hub/oauth_login answers 500 with the page   -> hub_error
    sb.set_fault("hostile", "idp_error")   # the IdP's /auth answers 400 with the page    -> idp_error
    sb.set_fault("hostile", "idp_login")   # the IdP's login form, then its error page    -> login_rejected

Every planted value is random per sandbox (`Corpus.planted`: what it is -> the value), so a test
searches every output for each one in every encoding (tests/leaks.py). The test password and the
client secret appear too, re-encoded the ways pages and libraries do it. The pages are written
once, to a JSON file both servers read (`{uid}` in the login pages is the interaction's id).
"""

from __future__ import annotations

import base64
import html
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

PAGES = ("hub", "idp_error", "idp_login")


def _hex(n: int = 12) -> str:
    return secrets.token_hex(n)


def _jwt() -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    header = part({"alg": "RS256", "kid": _hex(4)})
    body = part({"sub": _hex(6), "nonce": _hex(6)})
    return f"{header}.{body}.{secrets.token_urlsafe(24)}"


def _planted() -> dict[str, str]:
    return {
        "jupyterhub xsrf_token": f"2|{_hex(4)}|{_hex(16)}|{_hex(5)}",
        "xsrf in a query": _hex(),
        '"token" in JSON': secrets.token_urlsafe(18),
        '"session_token" in JSON': secrets.token_urlsafe(18),
        "accessToken in a script": secrets.token_urlsafe(18),
        "accessToken in text": secrets.token_urlsafe(18),
        "JWT after id_token :": _jwt(),
        "JWT in a textarea": _jwt(),
        "token in a URL path": _hex(16),
        "CAS ticket": f"ST-{secrets.randbelow(10**6)}-{secrets.token_urlsafe(15)}-cas01",
        "SAMLart": base64.b64encode(secrets.token_bytes(30)).decode(),
        "auth_code": secrets.token_urlsafe(12),
        "sid": _hex(10),
        "code inside next=": secrets.token_urlsafe(16),
        "meta csrf content": secrets.token_urlsafe(20),
        "data- attribute": _hex(10),
        "HTML comment": secrets.token_urlsafe(14),
        "noscript text": secrets.token_urlsafe(14),
        "style url signature": _hex(10),
        "Bearer in text": secrets.token_urlsafe(20),
        "SAMLResponse in a hidden input": base64.b64encode(secrets.token_bytes(48)).decode(),
        "form_post code": secrets.token_urlsafe(20),
        "onclick argument": _hex(10),
        "response header": _hex(12),
        "cookie": secrets.token_urlsafe(18),
        "link query state": secrets.token_urlsafe(12),
    }


# What would act on a terminal if it reached one raw.
TERMINAL = "\x1b[2J\x1b[H\x1b]8;;https://evil.example/\x07click here\x1b]8;;\x07 \x1b[31mred\r\u202eexe.txt"


def _password_forms(password: str) -> list[str]:
    """The test password as pages and libraries re-encode it."""
    as_json = json.dumps(password).replace("/", "\\/")
    half = len(password) // 2
    return [
        f"you typed: {html.escape(password)}",
        f'debug: {{"password": {html.escape(as_json)}}}',
        f"b64: {base64.b64encode(password.encode()).decode()}",
        f"split: {html.escape(password[:half])}<br>\n{html.escape(password[half:])}",
        f"upper: {html.escape(password.upper())}",
        f"encoded: {quote(password, safe='')}",
        "entities: " + "".join(f"&#{ord(c)};" for c in password),
    ]


@dataclass
class Corpus:
    password: str
    client_secret: str
    planted: dict[str, str] = field(default_factory=_planted)

    def _body(self, title: str) -> str:
        """What every hostile page carries, besides its own purpose."""
        p = self.planted
        forms = "".join(f"<p>{line}</p>\n" for line in _password_forms(self.password))
        return f"""
<h1>{html.escape(title)}</h1>
<p class="error" role="alert">Something went wrong {TERMINAL} id_token : {p["JWT after id_token :"]}</p>
<pre>{{"token": "{p['"token" in JSON']}", "session_token": "{p['"session_token" in JSON']}"}}
accessToken = {p["accessToken in text"]}
Authorization: Bearer {p["Bearer in text"]}
ticket={p["CAS ticket"]} SAMLart={html.escape(p["SAMLart"])} auth_code={p["auth_code"]} sid={p["sid"]}
client_secret={html.escape(self.client_secret.upper())}
</pre>
{forms}
<!-- debug session={p["HTML comment"]} -->
<noscript>session={p["noscript text"]}</noscript>
<div data-session="{p["data- attribute"]}" style="background:url(/bg.png?sig={p["style url signature"]})">
<textarea name="debug">{p["JWT in a textarea"]}</textarea>
<a href="/reset/{p["token in a URL path"]}/confirm">reset /reset/{p["token in a URL path"]}/confirm</a>
<a href="/hub/login?next=/x%3Fcode%3D{p["code inside next="]}">again: next=/x%3Fcode%3D{p["code inside next="]}</a>
<a href="/cb?state={p["link query state"]}&amp;_xsrf={p["xsrf in a query"]}&amp;error=access_denied">back</a>
<button onclick="report('{p["onclick argument"]}')">Report</button>
</div>
<form method="post" action="/hub/oauth_callback">
<input type="hidden" name="code" value="{p["form_post code"]}">
<input type="hidden" name="SAMLResponse" value="{html.escape(p["SAMLResponse in a hidden input"])}">
<input type="hidden" name="_xsrf" value="{html.escape(p["jupyterhub xsrf_token"])}">
</form>
<script>
window.jhdata = {{"xsrf_token": "{p["jupyterhub xsrf_token"]}", "accessToken": "{p["accessToken in a script"]}"}};
</script>
"""

    def page(self, title: str, form: str = "") -> str:
        p = self.planted
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="csrf-token" content="{p["meta csrf content"]}"></head>
<body>{form}{self._body(title)}</body></html>"""

    def login_form(self, error: str = "") -> str:
        """The IdP's login form: what generic_oidc recognises, amid the corpus."""
        alert = f'<p class="error" role="alert">{error}</p>' if error else ""
        # The IdP echoes the password into the field, as some do after a failed login.
        echoed = f' value="{html.escape(self.password)}"' if error else ""
        return f"""<form method="post" action="/interaction/{{uid}}/login" autocomplete="off">
{alert}
<label for="user">Username</label><input id="user" name="user" autocomplete="username">
<label for="pw">Password</label><input id="pw" name="pw" type="password"{echoed}>
<button type="submit">Sign in</button></form>"""

    def pages(self) -> dict[str, str]:
        p = self.planted
        rejected = (
            f"Invalid password &quot;{html.escape(self.password.upper())}&quot; for student; "
            f"session={p['sid']} {TERMINAL}"
        )
        return {
            "hub": self.page("Hostile hub: 500 : Internal Server Error"),
            "idp_error": self.page("Hostile IdP: Sign-in error invalid_request"),
            "idp_login": self.page("Hostile IdP: sign in", self.login_form()),
            "idp_login_error": self.page("Hostile IdP: sign in", self.login_form(rejected)),
        }

    def headers(self) -> dict[str, str]:
        """Response headers the hostile pages are served with."""
        return {
            "X-Debug-Token": self.planted["response header"],
            "Set-Cookie": f"session={self.planted['cookie']}; Path=/; HttpOnly",
        }

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps({"pages": self.pages(), "headers": self.headers()}))
        return path
