"""Flows named by hubs: the built-in ones, a hub's own flow file, and their flow_options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loginprobe.config import ConfigError, load
from loginprobe.prober.registry import available_flows, describe_flow, load_flow

CILOGON = """
[hubs.h]
url = "https://hub.example.org/"
flow = "cilogon"
username_env = "H_USER"
password_env = "H_PASS"
{options}
"""


def _errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path)
    return info.value.lines


def test_the_providers_real_hubs_use_are_flows() -> None:
    assert {"generic_oidc", "azuread", "github", "cilogon"} <= available_flows()
    assert not [name for name in available_flows() if name.startswith("_")]


def test_every_flow_describes_itself_in_one_line() -> None:
    for name in available_flows():
        summary, _ = describe_flow(name)
        assert summary and summary.endswith(".") and len(summary) < 110, name


def test_cilogon_needs_the_institution(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CILOGON.format(options=""))
    assert _errors(path) == [
        f"{path}: hubs.h.flow_options.institution: flow cilogon needs this option (the "
        "identity provider to pick on CILogon's page, as listed there (e.g. \"University of "
        'Toronto") or its entityID) (hub h)'
    ]


def test_unknown_flow_option_names_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        CILOGON.format(options='[hubs.h.flow_options]\ninstitution = "X"\ninstitutoin = "typo"')
    )
    assert _errors(path) == [
        f"{path}: hubs.h.flow_options.institutoin: unknown option for flow cilogon "
        "(known: institution, then) (hub h)"
    ]


def test_cilogon_then_must_be_a_flow(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        CILOGON.format(options='[hubs.h.flow_options]\ninstitution = "X"\nthen = "shibboleth"')
    )
    assert _errors(path) == [
        f"{path}: hubs.h.flow_options.then: no flow named 'shibboleth' in probes/ (hub h)"
    ]


def test_options_on_a_flow_that_takes_none(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        CILOGON.replace('"cilogon"', '"github"').format(options='[hubs.h.flow_options]\nx = "1"')
    )
    assert _errors(path) == [
        f"{path}: hubs.h.flow_options.x: unknown option for flow github (it takes none) (hub h)"
    ]


def test_a_hub_flow_file_is_found_beside_the_config_and_loaded(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "campus_sso.py").write_text(
        '"""Login on the campus SSO page."""\n'
        'OPTIONS = {"realm": "which realm"}\n'
        "async def login(page, ctx):\n    return None\n"
    )
    path = tmp_path / "c.toml"
    path.write_text(
        CILOGON.replace('"cilogon"', '"flows/campus_sso.py"').format(
            options='[hubs.h.flow_options]\nrealm = "students"'
        )
    )
    loaded = load(path)  # from another working directory than the config's
    flow = loaded.config.hubs["h"].flow
    assert flow == str(tmp_path / "flows" / "campus_sso.py")
    assert callable(load_flow(flow))
    assert describe_flow(flow) == ("Login on the campus SSO page.", {"realm": "which realm"})


def test_a_missing_or_broken_flow_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CILOGON.replace('"cilogon"', '"nope.py"').format(options=""))
    assert _errors(path) == [f"{path}: hubs.h.flow: no such flow file nope.py (hub h)"]
    (tmp_path / "broken.py").write_text("def login(:\n")
    path.write_text(CILOGON.replace('"cilogon"', '"broken.py"').format(options=""))
    (line,) = _errors(path)
    assert line.startswith(
        f"{path}: hubs.h.flow: flow file {tmp_path / 'broken.py'} failed to load: SyntaxError"
    )
    (tmp_path / "nologin.py").write_text("x = 1\n")
    path.write_text(CILOGON.replace('"cilogon"', '"nologin.py"').format(options=""))
    load(path)  # loads; the probe says it has no login()
    with pytest.raises(LookupError, match="has no `async def login"):
        load_flow(str(tmp_path / "nologin.py"))


def test_an_edited_flow_file_is_loaded_afresh(tmp_path: Path) -> None:
    flow = tmp_path / "mine.py"
    flow.write_text('"""First version."""\nasync def login(page, ctx):\n    pass\n')
    assert describe_flow(str(flow))[0] == "First version."
    flow.write_text('"""Second version."""\nasync def login(page, ctx):\n    pass\n')
    os.utime(flow, ns=(flow.stat().st_atime_ns, flow.stat().st_mtime_ns + 1_000_000))
    assert describe_flow(str(flow))[0] == "Second version."


def test_cilogon_then_may_name_a_flow_file_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "campus_idp.py").write_text(
        '"""The campus page."""\nasync def login(p, c):\n    pass\n'
    )
    path = tmp_path / "c.toml"
    path.write_text(
        CILOGON.format(options='[hubs.h.flow_options]\ninstitution = "X"\nthen = "campus_idp.py"')
    )
    then = load(path).config.hubs["h"].flow_options["then"]
    assert then == str(tmp_path / "campus_idp.py")
    path.write_text(
        CILOGON.format(options='[hubs.h.flow_options]\ninstitution = "X"\nthen = "nope.py"')
    )
    assert _errors(path) == [
        f"{path}: hubs.h.flow_options.then: no flow file {tmp_path / 'nope.py'} (hub h)"
    ]
