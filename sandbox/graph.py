"""A Microsoft identity platform + Graph stand-in on loopback (HTTPS, trustme CA), answering as
Microsoft documents it:

- POST /{tenant}/oauth2/v2.0/token, client credentials grant (client_id, client_secret,
  grant_type=client_credentials, scope=<graph>/.default) -> {"token_type": "Bearer",
  "expires_in": 3599, "access_token": ...}; a bad secret -> 401 invalid_client AADSTS7000215.
- GET /v1.0/applications(appId='{id}')?$select=passwordCredentials with the bearer token ->
  {"@odata.context": ..., "passwordCredentials": [{"customKeyIdentifier": null, "displayName": ...,
  "endDateTime": "2027-09-01T00:00:00Z", "hint": "abc", "keyId": ..., "secretText": null,
  "startDateTime": ...}]}; without Application.Read.All -> 403 Authorization_RequestDenied.

Modes: "ok", "deny" (403), "unauthorized" (401 on the Graph call), "malformed" (200, nonsense).
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

from sandbox.https import JsonHandler, serve_https, server_context, stop_https

GraphMode = Literal["ok", "deny", "unauthorized", "malformed"]


class GraphStandIn:
    def __init__(self, workdir: Path, tenant: str, client_id: str, client_secret: str) -> None:
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.ca = trustme.CA()
        self.ca_file = workdir / "graph-test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._ctx = server_context(self.ca)
        self.mode: GraphMode = "ok"
        self.tokens: set[str] = set()
        self.graph_requests = 0
        # The app's credentials: the one the hub uses (its hint) plus an older, unrelated one.
        self.end = datetime.now(UTC) + timedelta(days=200)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def credentials(self) -> list[dict[str, Any]]:
        def cred(hint: str, end: datetime) -> dict[str, Any]:
            return {
                "customKeyIdentifier": None,
                "displayName": f"secret {hint}",
                "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "hint": hint,
                "keyId": str(uuid.uuid4()),
                "secretText": None,
                "startDateTime": (end - timedelta(days=730)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }

        return [
            cred("zz9", datetime.now(UTC) + timedelta(days=3)),
            cred(self.client_secret[:3], self.end),
        ]

    def start(self) -> None:
        stand_in = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                if self.path != f"/{stand_in.tenant}/oauth2/v2.0/token":
                    self.answer(404, {"error": "not_found"})
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                if form.get("grant_type") != "client_credentials" or not str(
                    form.get("scope", "")
                ).endswith("/.default"):
                    self.answer(
                        400,
                        {
                            "error": "invalid_request",
                            "error_description": "AADSTS900144: The request body must contain the following "
                            "parameter: 'grant_type' or a .default scope.",
                        },
                    )
                    return
                if (form.get("client_id"), form.get("client_secret")) != (
                    stand_in.client_id,
                    stand_in.client_secret,
                ):
                    self.answer(
                        401,
                        {
                            "error": "invalid_client",
                            "error_description": "AADSTS7000215: Invalid client secret provided.",
                        },
                    )
                    return
                token = secrets.token_urlsafe(24)
                stand_in.tokens.add(token)
                self.answer(
                    200,
                    {
                        "token_type": "Bearer",
                        "expires_in": 3599,
                        "ext_expires_in": 3599,
                        "access_token": token,
                    },
                )

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                m = re.fullmatch(r"/v1\.0/applications\(appId='([^']+)'\)", unquote(parts.path))
                auth = self.headers.get("Authorization", "")
                stand_in.graph_requests += 1
                if m is None:
                    self.answer(404, {"error": {"code": "Request_ResourceNotFound"}})
                    return
                if (
                    not auth.startswith("Bearer ")
                    or auth[7:] not in stand_in.tokens
                    or stand_in.mode == "unauthorized"
                ):
                    self.answer(
                        401,
                        {
                            "error": {
                                "code": "InvalidAuthenticationToken",
                                "message": "Access token is empty.",
                            }
                        },
                    )
                    return
                if stand_in.mode == "deny":
                    self.answer(
                        403,
                        {
                            "error": {
                                "code": "Authorization_RequestDenied",
                                "message": "Insufficient privileges to complete the operation.",
                            }
                        },
                    )
                    return
                if m.group(1) != stand_in.client_id:
                    self.answer(404, {"error": {"code": "Request_ResourceNotFound"}})
                    return
                if stand_in.mode == "malformed":
                    self.answer(200, {"passwordCredentials": "not a list"})
                    return
                self.answer(
                    200,
                    {
                        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata"
                        "#applications(passwordCredentials)/$entity",
                        "passwordCredentials": stand_in.credentials(),
                    },
                )

        self._server = serve_https(Handler, self._ctx, 0)

    def stop(self) -> None:
        if self._server is not None:
            stop_https(self._server)
            self._server = None
