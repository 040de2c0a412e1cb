"""browser: which Chromium to launch, and the environment it inherits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loginprobe.prober import browser
from loginprobe.prober.browser import (
    ENV_ALLOWLIST,
    QUIET_FLAGS,
    UNSEEN_UI,
    BrowserNotFound,
    browser_env,
    choose_executable,
    feature_switches,
    parse_disabled_features,
    playwright_disabled_features,
    sandboxing,
)


def executable(path: Path) -> str:
    path.write_text("#!/bin/sh\n")
    os.chmod(path, 0o755)
    return str(path)


def plain_file(path: Path) -> str:
    path.write_text("not a program\n")
    os.chmod(path, 0o644)
    return str(path)


@pytest.fixture
def own(tmp_path: Path) -> str:
    """Playwright's own Chromium, installed."""
    return executable(tmp_path / "playwright-chrome")


def test_configured_executable_wins_over_everything(tmp_path: Path, own: str) -> None:
    configured = executable(tmp_path / "my-chromium")
    system = (executable(tmp_path / "sys-chromium"),)
    assert choose_executable(configured, own, system=system) == configured


def test_configured_but_not_executable_is_browser_not_found_naming_it(
    tmp_path: Path, own: str
) -> None:
    configured = plain_file(tmp_path / "my-chromium")
    with pytest.raises(BrowserNotFound, match="my-chromium") as info:
        choose_executable(configured, own, system=())
    assert "[browser] executable" in str(info.value)
    assert "not an executable file" in str(info.value)


def test_configured_but_missing_is_browser_not_found(tmp_path: Path, own: str) -> None:
    with pytest.raises(BrowserNotFound, match="nowhere"):
        choose_executable(str(tmp_path / "nowhere"), own, system=())


def test_configured_directory_is_not_an_executable_file(tmp_path: Path, own: str) -> None:
    # A directory has the x bit; it is still not something to launch.
    with pytest.raises(BrowserNotFound):
        choose_executable(str(tmp_path), own, system=())


def test_playwright_own_chromium_present_means_none(tmp_path: Path, own: str) -> None:
    system = (executable(tmp_path / "sys-chromium"),)
    assert choose_executable("", own, system=system) is None


def test_without_playwright_chromium_first_executable_system_candidate_wins(
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "absent")
    not_exec = plain_file(tmp_path / "chromium-no-x")
    first = executable(tmp_path / "chromium")
    second = executable(tmp_path / "google-chrome")
    system = (missing, not_exec, first, second)
    assert choose_executable("", str(tmp_path / "no-playwright-chrome"), system=system) == first
    assert choose_executable("", "", system=system) == first


def test_no_chromium_anywhere_names_both_install_commands(tmp_path: Path) -> None:
    with pytest.raises(BrowserNotFound) as info:
        choose_executable("", str(tmp_path / "absent"), system=(str(tmp_path / "absent2"),))
    message = str(info.value)
    assert "playwright install --with-deps chromium" in message
    assert "apt-get install chromium" in message
    assert "[browser] executable" in message


def test_browser_env_passes_only_allowlisted_variables_and_sets_home() -> None:
    environ = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "SANDBOX_PASSWORD": "hunter22",
        "AWS_SECRET": "aws-secret",
        "HUB_CLIENT_SECRET": "client-secret",
        "HOME": "/root",
        "LD_PRELOAD": "/tmp/evil.so",
    }
    env = browser_env("/tmp/loginprobe-browser-x", environ)
    assert env == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "HOME": "/tmp/loginprobe-browser-x",
        "XDG_CONFIG_HOME": "/tmp/loginprobe-browser-x/.config",
        "XDG_CACHE_HOME": "/tmp/loginprobe-browser-x/.cache",
    }
    for value in env.values():
        assert value not in ("hunter22", "aws-secret", "client-secret", "/root")


def test_browser_env_never_contains_anything_outside_the_allowlist() -> None:
    environ = {f"VAR_{i}": "x" for i in range(50)} | {k: "ok" for k in ENV_ALLOWLIST}
    env = browser_env("/h", environ)
    allowed = set(ENV_ALLOWLIST) | {"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"}
    assert set(env) <= allowed
    assert all(env[k] == "ok" for k in ENV_ALLOWLIST)


# -- Chromium's sandbox -------------------------------------------------------------------------
def test_root_runs_chromium_without_its_sandbox_and_says_why() -> None:
    decided = sandboxing(euid=0, user_namespaces=lambda: True)
    assert not decided.enabled
    assert "root" in decided.why


def test_without_user_namespaces_chromium_runs_without_its_sandbox() -> None:
    decided = sandboxing(euid=1000, user_namespaces=lambda: False)
    assert not decided.enabled
    assert "user namespaces" in decided.why


def test_a_non_root_user_with_user_namespaces_gets_the_sandbox() -> None:
    assert sandboxing(euid=1000, user_namespaces=lambda: True).enabled


def test_no_sandbox_is_never_a_fixed_flag() -> None:
    assert "--no-sandbox" not in QUIET_FLAGS


DRIVER = """
    otherFeatures = [
      "NotThisOne"
    ].filter(Boolean);
    disabledFeatures = [
      // See https://github.com/microsoft/playwright/issues/14047
      "AvoidUnnecessaryBeforeUnloadCheckSync",
      "MediaRouter", // a reason
      "PaintHolding"
    ].filter(Boolean);
    chromiumSwitches = (options) => [
      "--disable-features=" + disabledFeatures.join(","),
      "--enable-features=" + otherFeatures.join(","),
    ];
"""


def test_playwrights_disabled_features_are_read_from_its_driver_source() -> None:
    assert parse_disabled_features(DRIVER) == (
        "AvoidUnnecessaryBeforeUnloadCheckSync",
        "MediaRouter",
        "PaintHolding",
    )


@pytest.mark.parametrize(
    "source",
    [
        "",  # not there at all
        DRIVER.replace('"MediaRouter", // a reason', 'process.env.X ? "" : "MediaRouter",'),
        DRIVER.replace('.join(","),\n      "--enable', '.join(","),\n      "--disable'),
        DRIVER.replace("disabledFeatures = [", "disabledFeatures2 = ["),
        DRIVER.replace('"AvoidUnnecessaryBeforeUnloadCheckSync",\n', "")
        .replace('"MediaRouter", // a reason\n', "")
        .replace('"PaintHolding"\n', ""),
    ],
    ids=[
        "absent",
        "a name chosen at run time",
        "two switches",
        "the joined list renamed",
        "empty",
    ],
)
def test_a_list_that_is_not_plain_names_is_not_guessed_at(source: str) -> None:
    assert parse_disabled_features(source) is None


def test_without_playwrights_list_its_switch_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ours alone would turn Playwright's features back on (Chromium keeps the last switch)."""
    monkeypatch.setattr(browser, "playwright_disabled_features", lambda: None)
    assert feature_switches() == ([], [])


def test_the_installed_playwrights_list_is_found_and_ours_replaces_its_switch() -> None:
    """Against the Playwright this project pins: if an upgrade moves or reshapes the list, this
    fails (the product then leaves Chromium's switches alone). That our switch really replaced
    Playwright's on the browser's command line is tests/integration/test_browser_ui.py's."""
    theirs = playwright_disabled_features()
    assert theirs is not None
    args, replaced = feature_switches()
    assert replaced == ["--disable-features=" + ",".join(theirs)]
    assert args == ["--disable-features=" + ",".join((*theirs, *UNSEEN_UI))]
