"""Azure AD: read when the hub's client secret expires from Microsoft Graph.

A client-credentials token for Graph (the app needs Application.Read.All), then
GET /v1.0/applications(appId='{client_id}')?$select=passwordCredentials, and the credential whose
`hint` (the first three characters of a secret) matches the secret the hub uses. Nothing here
raises for a bad answer: it says what went wrong, and the monitor falls back to the declared date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx


@dataclass(frozen=True)
class GraphExpiry:
    end: datetime | None = None  # the matching credential's endDateTime
    error: str | None = None
    denied: bool = False  # Graph refused (401/403): no permission, not a broken secret


def _graph_error(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error", {})
        return f"{err.get('code', '?')}: {err.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return resp.text[:200]


def pick_expiry(body: Any, secret: str) -> GraphExpiry:
    """Pure: the endDateTime of the credential the secret belongs to, from Graph's JSON."""
    creds = body.get("passwordCredentials") if isinstance(body, dict) else None
    if not isinstance(creds, list):
        return GraphExpiry(error="malformed Graph answer: no passwordCredentials list")
    hint = secret[:3]
    ends = []
    for cred in creds:
        if isinstance(cred, dict) and cred.get("hint") == hint:
            try:
                ends.append(datetime.fromisoformat(str(cred.get("endDateTime"))))
            except ValueError:
                return GraphExpiry(
                    error=f"malformed Graph answer: endDateTime {cred.get('endDateTime')!r}"
                )
    if not ends:
        return GraphExpiry(
            error=f"no password credential with the hint of the configured secret "
            f"among {len(creds)} (rotated without updating the hub?)"
        )
    return GraphExpiry(end=min(ends))  # two with the same hint: warn for the earlier


async def graph_secret_expiry(
    client: httpx.AsyncClient,
    *,
    authority: str,
    graph_url: str,
    tenant: str,
    client_id: str,
    client_secret: str,
) -> GraphExpiry:
    try:
        token_resp = await client.post(
            f"{authority}/{tenant}/oauth2/v2.0/token",
            data={
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "client_credentials",
                "scope": f"{graph_url}/.default",
            },
        )
        if token_resp.status_code != 200:
            try:
                info = token_resp.json()
                what = f"{info.get('error')}: {str(info.get('error_description', ''))[:160]}"
            except ValueError:
                what = f"HTTP {token_resp.status_code}"
            return GraphExpiry(error=f"no Graph token ({what})")
        token = token_resp.json().get("access_token")
        if not isinstance(token, str):
            return GraphExpiry(error="malformed token answer: no access_token")
        resp = await client.get(
            f"{graph_url}/v1.0/applications(appId='{client_id}')",
            params={"$select": "passwordCredentials"},
            headers={"Authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as err:
        return GraphExpiry(error=f"Graph unreachable: {type(err).__name__}")
    except ValueError:
        return GraphExpiry(error="malformed token answer: not JSON")
    if resp.status_code in (401, 403):
        return GraphExpiry(
            denied=True,
            error=f"Graph refused (HTTP {resp.status_code} "
            f"{_graph_error(resp)}): the app needs Application.Read.All",
        )
    if resp.status_code != 200:
        return GraphExpiry(error=f"Graph answered HTTP {resp.status_code}: {_graph_error(resp)}")
    try:
        body = resp.json()
    except ValueError:
        return GraphExpiry(error="malformed Graph answer: not JSON")
    return pick_expiry(body, client_secret)
