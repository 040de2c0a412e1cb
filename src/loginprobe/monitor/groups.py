"""Which identity provider a hub logs in through: its *group*. Hubs of one group share one IdP, so
an outage of that IdP is one incident (`loginprobe/idp/<group>/login`), not one per hub.

Pure. Where a hub's group comes from, first match wins:
1. `idp = "cilogon"` in the hub's config (an operator's name for it);
2. the host of the hub's `[hubs.NAME.oauth] token_url` (the IdP the hub redeems codes at);
3. the host of the IdP pages the hub's latest probe walked through (steps named `idp_*`);
4. none: a hub whose IdP is unknown is a group of its own and pages on its own.
A host keeps its port when it has one (two IdPs on one machine are two IdPs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from loginprobe.config.schema import HubConfig
from loginprobe.model import Code, Step, Verdict


def group_key(group: str) -> str:
    return f"loginprobe/idp/{group}/login"


def url_host(url: str) -> str | None:
    """ "https://CILogon.org:443/oauth2/token" -> "cilogon.org"; "http://127.0.0.1:8080/x" ->
    "127.0.0.1:8080"; None for anything without a host."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if port is None or port == default else f"{host}:{port}"


def seen_idp_host(steps: Iterable[Step], hub_url: str) -> str | None:
    """The host of the IdP pages a probe walked through: the most frequent host of its `idp_*`
    steps that is not the hub's own."""
    hub = url_host(hub_url)
    hosts = Counter(
        h
        for s in steps
        if s.name.startswith("idp_") and (h := url_host(s.url)) is not None and h != hub
    )
    return hosts.most_common(1)[0][0] if hosts else None


def hub_group(spec: HubConfig, seen: str | None = None) -> str | None:
    """The hub's group (see the module's docstring), or None when its IdP is unknown."""
    if spec.idp:
        return spec.idp
    if spec.oauth is not None:
        host = url_host(spec.oauth.token_url)
        if host:
            return host
    return seen


def hub_groups(hubs: Mapping[str, HubConfig], seen: Mapping[str, str]) -> dict[str, str]:
    """Every hub with a known group -> its group."""
    out = {}
    for name, spec in hubs.items():
        group = hub_group(spec, seen.get(name))
        if group is not None:
            out[name] = group
    return out


def group_threshold(group_min_hubs: int, size: int) -> int | None:
    """How many of a group's `size` hubs must fail IdP-side at once to open the group's incident:
    `group_min_hubs`, or all of a smaller group; None for a group of one hub (its own page is the
    group's)."""
    if size < 2:
        return None
    return min(group_min_hubs, size)


IDP_CODES = frozenset({Code.IDP_UNREACHABLE, Code.IDP_ERROR})
UNREACHABLE_CODES = frozenset({Code.IDP_UNREACHABLE, Code.HUB_UNREACHABLE})


def idp_side(verdict: Verdict) -> bool:
    """A failure the IdP caused (as far as one probe can tell): it could not be reached, showed an
    error, answered 5xx, or did not answer in time at one of its own steps."""
    if verdict.code in IDP_CODES:
        return True
    at_idp = (verdict.step or "").startswith("idp_")
    if verdict.code is Code.TIMEOUT and at_idp:
        return True
    status = verdict.evidence.get("http_status")
    return at_idp and isinstance(status, int) and status >= 500 and not verdict.ok


def unreachable(verdict: Verdict) -> bool:
    """The page never arrived (DNS, connection refused, TLS): the hub's or the IdP's."""
    return verdict.code in UNREACHABLE_CODES
