"""The real `probe` console entry point on bad and good configs: exit codes and one-line errors.

These never reach a browser: every command here stops at config or secret validation.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# `probe check` tries the listen address: not the default port, which a monitor may hold.
GOOD = f"""
[monitor]
listen = "127.0.0.1:{free_port()}"

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
        GOOD.replace("[monitor]\n", '[monitor]\ninterval = "90"\n').replace(
            '"https://beta.example.org"', '"beta"'
        ),
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
    first, *notes_and_capacity = result.stdout.strip().splitlines()
    assert first == (
        f"{path}: OK — 2 hub(s): beta, alpha; every secret present, flows, browser, store and "
        "listen address ready"
    )
    capacity = notes_and_capacity[-1]
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


# -- `probe check` checks what `probe serve` checks --------------------------------------------
PAGERDUTY = """
[pagerduty]
routing_key_env = "PD_KEY"
"""
KEY = "0123456789abcdef0123456789abcdef"


def check_lines(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text, "config.toml")
    result = probe("--config", str(path), "check", cwd=tmp_path, env={**SECRETS, **(env or {})})
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stdout
    return [line.replace(str(path), "{path}") for line in result.stderr.splitlines()]


@pytest.mark.parametrize(
    ("extra", "env", "expected"),
    [
        pytest.param(
            PAGERDUTY,
            {},
            "{path}: pagerduty.routing_key_env: environment variable PD_KEY is not set",
            id="routing-key-missing",
        ),
        pytest.param(
            PAGERDUTY,
            {"PD_KEY": "abcde"},
            "{path}: pagerduty.routing_key: the key from PD_KEY has 5 characters; PagerDuty "
            "integration keys have 32",
            id="routing-key-5-characters",
        ),
        pytest.param(
            PAGERDUTY + 'routing_key_file = "key"\n',
            {"PD_KEY": KEY},
            "{path}: pagerduty.routing_key_env: set either routing_key_env or routing_key_file, "
            "not both",
            id="routing-key-env-and-file",
        ),
        pytest.param(
            PAGERDUTY + 'ca_file = "missing.pem"\n',
            {"PD_KEY": KEY},
            "{path}: pagerduty.ca_file: missing.pem: no such file",
            id="ca-file-missing",
        ),
        pytest.param(
            '\n[browser]\nexecutable = "/nonexistent/chromium"\n',
            {},
            "{path}: browser.executable: [browser] executable '/nonexistent/chromium' is not an "
            "executable file",
            id="browser-missing",
        ),
    ],
)
def test_check_refuses_what_serve_refuses(
    tmp_path: Path, extra: str, env: dict[str, str], expected: str
) -> None:
    assert check_lines(tmp_path, GOOD + extra, env) == [expected]


def test_check_refuses_a_flow_file_without_login(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "mine.py").write_text('"""My IdP."""\n')
    text = GOOD.replace('flow = "generic_oidc"', 'flow = "flows/mine.py"', 1)
    [line] = check_lines(tmp_path, text)
    assert line.startswith("{path}: hubs.beta.flow: ") and "login(page, ctx)" in line


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"", "is an empty file (0 bytes)"), (b"not a database " * 100, "file is not a database")],
    ids=["empty", "garbage"],
)
def test_check_refuses_an_empty_or_corrupt_store(tmp_path: Path, content: bytes, said: str) -> None:
    (tmp_path / "state.sqlite").write_bytes(content)
    text = GOOD.replace("[monitor]\n", f'[monitor]\nstate = "sqlite:///{tmp_path}/state.sqlite"\n')
    [line] = check_lines(tmp_path, text)
    assert line.startswith("{path}: monitor.state: ") and said in line


def test_check_refuses_a_store_that_cannot_be_written(tmp_path: Path) -> None:
    from loginprobe.store import Store

    Store(f"sqlite:///{tmp_path}/state.sqlite").close()
    # Read-only as SQLite sees it (root may write any file, so permissions would not do).
    url = f"sqlite:///file:{tmp_path}/state.sqlite?mode=ro&uri=true"
    text = GOOD.replace("[monitor]\n", f'[monitor]\nstate = "{url}"\n')
    [line] = check_lines(tmp_path, text)
    assert line.startswith("{path}: monitor.state: the state store is not writable"), line


def test_check_refuses_a_listen_address_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        text = GOOD.replace("listen = ", f'listen = "127.0.0.1:{port}"\n# was: ')
        [line] = check_lines(tmp_path, text)
    assert line == (
        f"{{path}}: monitor.listen 127.0.0.1:{port}: Address already in use (is `probe serve` "
        "already running?)"
    )


def test_check_says_when_chromium_must_run_without_its_sandbox(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.toml")
    result = probe("--config", str(path), "check", "--json", cwd=tmp_path, env=SECRETS)
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    if os.geteuid() == 0:
        assert report["sandbox"] is False
        assert any("without its sandbox" in n and "root" in n for n in report["notes"])


# -- secrets the config refuses, and values it does not repeat ---------------------------------
def test_a_secret_shorter_than_8_characters_is_refused_saying_why(tmp_path: Path) -> None:
    lines = check_lines(tmp_path, GOOD, {"BETA_PASS": "hunter2"})
    assert lines == [
        "{path}: hubs.beta.password_env: the value of BETA_PASS has 7 characters; secrets need "
        "at least 8: a shorter value also occurs in ordinary text, so it cannot be masked in "
        "evidence and logs without showing what it is (hub beta)"
    ]


def test_a_secret_pasted_into_an_env_key_is_not_repeated(tmp_path: Path) -> None:
    pasted = "CorrectHorseBatteryStaple9"
    text = GOOD.replace('password_env = "BETA_PASS"', f'password_env = "{pasted}"')
    lines = check_lines(tmp_path, text)
    assert lines == [
        "{path}: hubs.beta.password_env: the value of password_env looks like a secret, not the "
        "name of an environment variable (not shown; put the secret in a variable and name the "
        "variable here) is not set (hub beta)"
    ]
