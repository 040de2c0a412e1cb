"""The real `probe` console entry point on bad and good configs: exit codes and one-line errors.

These never reach a browser: every command here stops at config or secret validation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """
[hubs.beta]
url = "https://beta.example.org"
flow = "generic_oidc"
username_env = "BETA_USER"
password_env = "BETA_PASS"

[hubs.alpha]
url = "https://alpha.example.org"
flow = "generic_oidc"
username_env = "ALPHA_USER"
password_env = "ALPHA_PASS"

[hubs.alpha.oauth]
token_url = "https://idp.example.org/token"
client_id = "alpha"
client_secret_env = "ALPHA_CLIENT_SECRET"
"""
SECRETS = {
    "BETA_USER": "b",
    "BETA_PASS": "beta-pass",
    "ALPHA_USER": "a",
    "ALPHA_PASS": "alpha-pass",
    "ALPHA_CLIENT_SECRET": "alpha-client-secret",
}


def probe(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in SECRETS and k != "LOGINPROBE_CONFIG" and not k.startswith("FORCE_")
    }
    base.update({"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"})
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "loginprobe", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BAD_CONFIGS = [
    pytest.param(
        GOOD + "\n[spelling]\nmistake = 1\n", ["{path}: spelling: unknown key"], id="unknown-key"
    ),
    pytest.param(
        GOOD.replace("generic_oidc", "nosuchflow", 1),
        [
            "{path}: hubs.beta.flow: unknown flow 'nosuchflow'; available: azuread, cilogon, generic_oidc, github (or the path of your own flow file, ending in .py) (hub beta)"
        ],
        id="unknown-flow",
    ),
    pytest.param(
        '[monitor]\ninterval = "90"\n' + GOOD.replace('"https://beta.example.org"', '"beta"'),
        [
            """{path}: monitor.interval: invalid duration '90' (use e.g. "500ms", "90s", "2m", "1h")""",
            "{path}: hubs.beta.url: not an http(s) URL: 'beta' (hub beta)",
        ],
        id="two-problems",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_config_exits_2_with_exactly_the_error_lines(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = write(tmp_path, text)
    result = probe("--config", str(path), "check", cwd=tmp_path, env=SECRETS)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line.format(path=path) for line in expected]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["list", "run alpha"])
def test_every_command_that_reads_the_config_exits_2_on_a_bad_one(
    tmp_path: Path, command: str
) -> None:
    path = write(tmp_path, GOOD + "\n[spelling]\n")
    result = probe("--config", str(path), *command.split(), cwd=tmp_path, env=SECRETS)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{path}: spelling: unknown key"]
    assert result.stdout == ""


def test_invalid_toml_exits_2_with_one_line_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[hubs.x\n")
    result = probe("--config", str(path), "check", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: invalid TOML: ")
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    result = probe("--config", str(path), "check", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path}: no such config file (use --config PATH or $LOGINPROBE_CONFIG)"
    ]


def test_run_unknown_hub_exits_2_and_lists_known_hubs(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.toml")
    result = probe("--config", str(path), "run", "nosuchhub", cwd=tmp_path, env=SECRETS)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path}: no hub named 'nosuchhub'; known hubs: alpha, beta"
    ]
    assert "Traceback" not in result.stderr


def test_run_with_missing_secret_exits_2_naming_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.toml")
    env = {k: v for k, v in SECRETS.items() if k != "BETA_PASS"}
    result = probe("--config", str(path), "run", "beta", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path}: hubs.beta.password_env: environment variable BETA_PASS is not set (hub beta)"
    ]


def test_check_exits_0_when_every_secret_is_present(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.toml")
    result = probe("--config", str(path), "check", cwd=tmp_path, env=SECRETS)
    assert result.returncode == 0, result.stderr
    first, capacity = result.stdout.strip().splitlines()
    assert first == f"{path}: OK — 2 hub(s): beta, alpha; every secret present"
    # Two hubs every 60 s (the default interval); nothing measured yet on this store.
    assert capacity.startswith("capacity: 2 hub(s) need 2 probes/min; this machine sustains")
    assert "benchmark figures, until measured" in capacity
    assert result.stderr == ""
    for name in ("BETA_PASS", "ALPHA_PASS", "ALPHA_CLIENT_SECRET"):
        assert SECRETS[name] not in result.stdout


def test_check_exits_2_naming_the_missing_variable(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.toml")
    env = {k: v for k, v in SECRETS.items() if k != "ALPHA_CLIENT_SECRET"}
    result = probe("--config", str(path), "check", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path}: hubs.alpha.oauth.client_secret_env: environment variable ALPHA_CLIENT_SECRET "
        "is not set (hub alpha)"
    ]
    assert "Traceback" not in result.stderr


def test_check_reports_every_missing_variable_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.toml")
    result = probe("--config", str(path), "check", cwd=tmp_path, env={})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 5
    for name in SECRETS:
        assert sum(f"environment variable {name} is not set" in line for line in lines) == 1


def test_loginprobe_config_env_var_is_used_without_config_option(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "elsewhere.toml")
    env = {**SECRETS, "LOGINPROBE_CONFIG": str(path)}
    result = probe("check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: OK")


def test_config_option_wins_over_loginprobe_config_env_var(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.toml")
    env = {**SECRETS, "LOGINPROBE_CONFIG": str(tmp_path / "absent.toml")}
    result = probe("--config", str(good), "check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


def test_default_config_is_config_toml_in_the_working_directory(tmp_path: Path) -> None:
    result = probe("check", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "config.toml: no such config file (use --config PATH or $LOGINPROBE_CONFIG)"
    ]


def test_flows_lists_the_built_in_flows_without_a_config(tmp_path: Path) -> None:
    result = probe("flows", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("generic_oidc", "azuread", "github", "cilogon"):
        assert f"│ {name} " in result.stdout
