"""A hub's group (pure): the config's `idp`, else the token endpoint's host, else what its
probes saw."""

from __future__ import annotations

from typing import Any

import pytest

from loginprobe.config.schema import HubConfig
from loginprobe.model import Step
from loginprobe.monitor.groups import group_threshold, hub_group, seen_idp_host, url_host


def hub(**kw: Any) -> HubConfig:
    return HubConfig(
        url="https://hub.example.org",
        flow="generic_oidc",
        username_env="U",
        password_env="P",
        **kw,
    )


OAUTH = {
    "token_url": "https://CILogon.org/oauth2/token",
    "client_id": "c",
    "client_secret_env": "S",
}


@pytest.mark.parametrize(
    ("spec", "seen", "group"),
    [
        (hub(idp="cilogon", oauth=OAUTH), "idp.other.org", "cilogon"),
        (hub(oauth=OAUTH), "idp.other.org", "cilogon.org"),
        (hub(), "login.microsoftonline.com", "login.microsoftonline.com"),
        (hub(), None, None),
        (hub(oauth={**OAUTH, "token_url": "http://127.0.0.1:8080/token"}), None, "127.0.0.1:8080"),
    ],
)
def test_a_hubs_group_comes_from_config_then_token_url_then_what_probes_saw(
    spec: HubConfig, seen: str | None, group: str | None
) -> None:
    assert hub_group(spec, seen) == group


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://cilogon.org:443/x", "cilogon.org"),
        ("http://a.example.org:80", "a.example.org"),
        ("https://a.example.org:8443/", "a.example.org:8443"),
        ("not a url", None),
        ("", None),
    ],
)
def test_a_host_keeps_only_a_port_that_is_not_the_default(url: str, host: str | None) -> None:
    assert url_host(url) == host


def test_the_idp_a_probe_saw_is_the_host_of_its_idp_steps_not_the_hub() -> None:
    steps = (
        Step("hub_start", "ok", 200, "https://hub.example.org/hub/login"),
        Step("idp_page", "ok", 200, "https://idp.example.org/authorize"),
        Step("idp_login", "ok", 302, "https://idp.example.org/login"),
        Step("idp_page", "ok", 200, "https://hub.example.org/hub/oauth_callback"),
    )
    assert seen_idp_host(steps, "https://hub.example.org") == "idp.example.org"
    assert seen_idp_host(steps[:1], "https://hub.example.org") is None


@pytest.mark.parametrize(
    ("min_hubs", "size", "threshold"), [(3, 80, 3), (3, 3, 3), (3, 2, 2), (3, 1, None), (5, 4, 4)]
)
def test_a_group_opens_at_min_hubs_or_all_of_a_smaller_group(
    min_hubs: int, size: int, threshold: int | None
) -> None:
    assert group_threshold(min_hubs, size) == threshold
