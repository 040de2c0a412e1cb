"""config: loading, validation and secret resolution; every problem is one exact line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loginprobe.config import (
    ConfigError,
    LoadedConfig,
    MonitorConfig,
    env_names,
    load,
    parse_duration,
    resolve_auth,
    resolve_routing_key,
    resolve_secrets,
)

HUB = """
[hubs.h]
url = "https://hub.example.org/"
flow = "generic_oidc"
username_env = "H_USER"
password_env = "H_PASS"
"""
OAUTH = """
[hubs.h.oauth]
token_url = "https://idp.example.org/token"
client_id = "hub-client"
client_secret_env = "H_CLIENT_SECRET"
"""
ENV = {"H_USER": "tester", "H_PASS": "hunter22", "H_CLIENT_SECRET": "client-secret-value"}


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path)
    return info.value.lines


def secret_errors(
    loaded: LoadedConfig, environ: dict[str, str], hubs: list[str] | None = None
) -> list[str]:
    with pytest.raises(ConfigError) as info:
        resolve_secrets(loaded, hubs or ["h"], environ=environ)
    return info.value.lines


def assert_one_line_each(lines: list[str]) -> None:
    assert lines
    for line in lines:
        assert "\n" not in line
        assert "Traceback" not in line
        assert "pydantic" not in line.lower()


# -- durations -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("90s", 90),
        ("2m", 120),
        ("1h", 3600),
        ("1m30s", 90),
        ("1.5s", 1.5),
        (" 45s ", 45),
    ],
)
def test_parse_duration_reads_units_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("90", """invalid duration '90' (use e.g. "500ms", "90s", "2m", "1h")"""),
        ("ninety s", """invalid duration 'ninety s' (use e.g. "500ms", "90s", "2m", "1h")"""),
        ("", """invalid duration '' (use e.g. "500ms", "90s", "2m", "1h")"""),
        ("0s", "duration '0s' must be more than zero"),
        (90, 'expected a duration with a unit such as "90s" or "2m", got 90'),
        (True, 'expected a duration with a unit such as "90s" or "2m", got True'),
    ],
)
def test_parse_duration_rejects_with_a_clear_message(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == message


# -- a good config ---------------------------------------------------------------------------------
def test_valid_config_gets_documented_defaults(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, HUB))
    c = loaded.config
    assert loaded.path == tmp_path / "config.toml"
    assert c.monitor.interval == 60
    assert c.monitor.timeout == 45
    assert c.monitor.retry_after_failure == 20
    assert c.monitor.failures_to_alert == 2
    assert c.monitor.successes_to_resolve == 2
    assert c.monitor.concurrency == 2
    assert c.monitor.state.startswith("sqlite:///")
    assert c.browser.executable == ""
    assert c.pagerduty is None
    hub = c.hubs["h"]
    assert hub.url == "https://hub.example.org"  # trailing slash dropped
    assert hub.oauth is None
    assert c.hub_timeout("h") == 45


def test_durations_in_the_file_become_seconds_and_hub_timeout_overrides(tmp_path: Path) -> None:
    text = '[monitor]\ninterval = "2m"\ntimeout = "1m30s"\n' + HUB + 'timeout = "500ms"\n'
    text += '\n[hubs.other]\nurl = "http://127.0.0.1:8000"\nflow = "generic_oidc"\n'
    text += 'username_env = "O_USER"\npassword_file = "/run/secrets/pw"\n'
    c = load(write(tmp_path, text)).config
    assert c.monitor.interval == 120
    assert c.monitor.timeout == 90
    assert c.hub_timeout("h") == 0.5
    assert c.hub_timeout("other") == 90


def test_oauth_section_defaults_to_client_secret_post(tmp_path: Path) -> None:
    c = load(write(tmp_path, HUB + OAUTH + "secret_expires = 2027-09-01\n")).config
    oauth = c.hubs["h"].oauth
    assert oauth is not None
    assert oauth.auth_method == "client_secret_post"
    assert oauth.redirect_uri is None
    assert str(oauth.secret_expires) == "2027-09-01"


def test_resolve_secrets_reads_env_and_files(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-a-file\n")
    text = HUB.replace('password_env = "H_PASS"', f'password_file = "{pw}"') + OAUTH
    secrets = resolve_secrets(load(write(tmp_path, text)), ["h"], environ=ENV)["h"]
    assert secrets.username == "tester"
    assert secrets.password.get_secret_value() == "from-a-file"
    assert secrets.client_secret is not None
    assert secrets.client_secret.get_secret_value() == "client-secret-value"
    assert secrets.totp_secret is None
    assert sorted(secrets.values()) == ["client-secret-value", "from-a-file"]
    assert "from-a-file" not in repr(secrets)


# -- load: exact error lines -----------------------------------------------------------------------
LOAD_ERRORS = [
    pytest.param(HUB + "\n[nonsense]\n", "nonsense: unknown key", id="unknown-top-level-key"),
    pytest.param(
        HUB + 'colour = "blue"\n', "hubs.h.colour: unknown key (hub h)", id="unknown-hub-key"
    ),
    pytest.param(
        HUB + OAUTH + 'scope = "openid"\n',
        "hubs.h.oauth.scope: unknown key (hub h)",
        id="unknown-oauth-key",
    ),
    pytest.param(
        '[monitor]\ninterval = "90"\n' + HUB,
        """monitor.interval: invalid duration '90' (use e.g. "500ms", "90s", "2m", "1h")""",
        id="duration-without-unit",
    ),
    pytest.param(
        '[monitor]\ntimeout = "ninety s"\n' + HUB,
        """monitor.timeout: invalid duration 'ninety s' (use e.g. "500ms", "90s", "2m", "1h")""",
        id="duration-in-words",
    ),
    pytest.param(
        '[monitor]\nretry_after_failure = "0s"\n' + HUB,
        "monitor.retry_after_failure: duration '0s' must be more than zero",
        id="duration-zero",
    ),
    pytest.param(
        HUB + "interval = 90\n",
        'hubs.h.interval: expected a duration with a unit such as "90s" or "2m", got 90 (hub h)',
        id="duration-as-int",
    ),
    pytest.param(
        HUB.replace("https://hub.example.org/", "hub.example.org"),
        "hubs.h.url: not an http(s) URL: 'hub.example.org' (hub h)",
        id="url-without-scheme",
    ),
    pytest.param(
        HUB.replace("https://hub.example.org/", "ftp://hub.example.org"),
        "hubs.h.url: not an http(s) URL: 'ftp://hub.example.org' (hub h)",
        id="url-ftp",
    ),
    pytest.param(
        HUB.replace("generic_oidc", "nosuchflow"),
        "hubs.h.flow: unknown flow 'nosuchflow'; available: azuread, cilogon, generic_oidc, github "
        "(or the path of your own flow file, ending in .py) (hub h)",
        id="unknown-flow",
    ),
    pytest.param(
        HUB.replace('url = "https://hub.example.org/"\n', ""),
        "hubs.h.url: required key is missing (hub h)",
        id="missing-url",
    ),
    pytest.param(
        HUB.replace('password_env = "H_PASS"\n', ""),
        "hubs.h: needs password_env (or password_file) naming where the test account's "
        "password comes from (hub h)",
        id="missing-password-env",
    ),
    pytest.param(
        HUB.replace('username_env = "H_USER"\n', ""),
        "hubs.h: needs username_env (or username_file) naming where the test account's "
        "username comes from (hub h)",
        id="missing-username-env",
    ),
    pytest.param(
        HUB.replace('"H_PASS"', '"H-PASS"'),
        "hubs.h.password_env: not an environment variable name: 'H-PASS' (hub h)",
        id="bad-env-name",
    ),
    pytest.param(
        HUB + OAUTH.replace('"H_CLIENT_SECRET"', '"1SECRET"'),
        "hubs.h.oauth.client_secret_env: not an environment variable name: '1SECRET' (hub h)",
        id="bad-oauth-env-name",
    ),
    pytest.param(
        HUB + OAUTH + 'auth_method = "private_key_jwt"\n',
        "hubs.h.oauth.auth_method: Input should be 'client_secret_post' or 'client_secret_basic' "
        "(hub h)",
        id="unknown-auth-method",
    ),
    pytest.param(
        "[hubs]\n",
        "hubs: no hubs configured: add at least one [hubs.NAME] table",
        id="empty-hubs-table",
    ),
]


@pytest.mark.parametrize(("text", "message"), LOAD_ERRORS)
def test_load_reports_one_exact_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}: {message}"]


def test_config_without_any_hub_table_says_no_hubs_configured(tmp_path: Path) -> None:
    # A file with no [hubs.NAME] table at all is the usual way to have no hubs; it deserves the
    # same helpful line as an empty [hubs] table, not a bare "required key is missing".
    path = write(tmp_path, '[monitor]\ninterval = "60s"\n')
    assert errors_of(path) == [
        f"{path}: hubs: no hubs configured: add at least one [hubs.NAME] table"
    ]


def test_invalid_toml_names_the_file_and_the_position(tmp_path: Path) -> None:
    path = write(tmp_path, "[monitor]\ninterval = \n")
    lines = errors_of(path)
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: invalid TOML: ")
    assert "line 2" in lines[0]
    assert_one_line_each(lines)


def test_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert errors_of(path) == [
        f"{path}: no such config file (use --config PATH or $LOGINPROBE_CONFIG)"
    ]


def test_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'x = "caf\xe9"\n')
    assert errors_of(path) == [f"{path}: not UTF-8 text"]


def test_multiple_load_problems_are_reported_together(tmp_path: Path) -> None:
    text = '[monitor]\ninterval = "90"\n' + HUB + "colour = 1\n" + "\n[extra]\n"
    text += (
        '\n[hubs.b]\nurl = "nope"\nflow = "generic_oidc"\nusername_env = "U"\npassword_env = "P"\n'
    )
    path = write(tmp_path, text)
    lines = errors_of(path)
    assert sorted(lines) == sorted(
        [
            f"""{path}: monitor.interval: invalid duration '90' (use e.g. "500ms", "90s", "2m", "1h")""",
            f"{path}: hubs.h.colour: unknown key (hub h)",
            f"{path}: hubs.b.url: not an http(s) URL: 'nope' (hub b)",
            f"{path}: extra: unknown key",
        ]
    )
    assert_one_line_each(lines)


@pytest.mark.parametrize(("text", "message"), LOAD_ERRORS)
def test_every_load_error_is_a_single_line_without_traceback(
    tmp_path: Path, text: str, message: str
) -> None:
    assert_one_line_each(errors_of(write(tmp_path, text)))


def test_config_error_str_is_the_lines_joined(tmp_path: Path) -> None:
    err = ConfigError(["a: one", "b: two"])
    assert str(err) == "a: one\nb: two"


# -- resolve_secrets: exact error lines ------------------------------------------------------------
def test_missing_env_var_names_the_variable_and_the_hub(tmp_path: Path) -> None:
    path = write(tmp_path, HUB)
    lines = secret_errors(load(path), {"H_USER": "tester"})
    assert lines == [f"{path}: hubs.h.password_env: environment variable H_PASS is not set (hub h)"]


def test_empty_env_var_says_empty(tmp_path: Path) -> None:
    path = write(tmp_path, HUB)
    lines = secret_errors(load(path), {"H_USER": "tester", "H_PASS": ""})
    assert lines == [f"{path}: hubs.h.password_env: environment variable H_PASS is empty (hub h)"]


def test_both_env_and_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, HUB + 'password_file = "/run/secrets/pw"\n')
    lines = secret_errors(load(path), ENV)
    assert lines == [
        f"{path}: hubs.h.password_env: set either password_env or password_file, not both (hub h)"
    ]


def test_secret_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-secret"
    text = HUB.replace('password_env = "H_PASS"', f'password_file = "{missing}"')
    path = write(tmp_path, text)
    lines = secret_errors(load(path), ENV)
    assert lines == [
        f"{path}: hubs.h.password_file: cannot read {missing}: No such file or directory (hub h)"
    ]


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty-secret"
    empty.write_text("\n")
    path = write(tmp_path, HUB.replace('password_env = "H_PASS"', f'password_file = "{empty}"'))
    assert secret_errors(load(path), ENV) == [
        f"{path}: hubs.h.password_file: {empty} is empty (hub h)"
    ]


def test_oauth_section_without_client_secret_env_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, HUB + OAUTH.replace('client_secret_env = "H_CLIENT_SECRET"\n', ""))
    lines = secret_errors(load(path), ENV)
    assert lines == [
        f"{path}: hubs.h.oauth.client_secret_env: required key is missing "
        "(or client_secret_file) (hub h)"
    ]


def test_missing_client_secret_env_var_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, HUB + OAUTH)
    env = {k: v for k, v in ENV.items() if k != "H_CLIENT_SECRET"}
    assert secret_errors(load(path), env) == [
        f"{path}: hubs.h.oauth.client_secret_env: environment variable H_CLIENT_SECRET is not "
        "set (hub h)"
    ]


def test_all_secret_problems_of_all_hubs_are_reported_together(tmp_path: Path) -> None:
    text = HUB + OAUTH + HUB.replace("hubs.h", "hubs.g").replace("H_", "G_")
    path = write(tmp_path, text)
    lines = secret_errors(load(path), {"H_USER": "tester"}, hubs=["h", "g"])
    assert lines == [
        f"{path}: hubs.h.password_env: environment variable H_PASS is not set (hub h)",
        f"{path}: hubs.h.oauth.client_secret_env: environment variable H_CLIENT_SECRET is not "
        "set (hub h)",
        f"{path}: hubs.g.username_env: environment variable G_USER is not set (hub g)",
        f"{path}: hubs.g.password_env: environment variable G_PASS is not set (hub g)",
    ]
    assert_one_line_each(lines)


def test_resolve_secrets_only_reads_the_hubs_asked_for(tmp_path: Path) -> None:
    text = HUB + HUB.replace("hubs.h", "hubs.g").replace("H_", "G_")
    loaded = load(write(tmp_path, text))
    assert list(resolve_secrets(loaded, ["h"], environ=ENV)) == ["h"]


def test_secret_error_lines_never_contain_the_secret_values(tmp_path: Path) -> None:
    path = write(tmp_path, HUB + OAUTH)
    env = {"H_USER": "tester", "H_PASS": "hunter22"}
    lines = secret_errors(load(path), env)
    assert all("hunter22" not in line for line in lines)


def test_relative_secret_file_is_read_beside_the_config_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "pw").write_text("beside-the-config\n")
    monkeypatch.chdir(tmp_path)  # a cwd where "pw" does not exist
    text = HUB.replace('password_env = "H_PASS"', 'password_file = "pw"')
    loaded = load(write(tmp_path / "etc", text))
    secrets = resolve_secrets(loaded, ["h"], environ=ENV)["h"]
    assert secrets.password.get_secret_value() == "beside-the-config"


def test_the_example_config_at_the_root_is_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "config.toml"
    loaded = load(root)
    assert set(loaded.config.hubs) == {"example", "research", "utoronto", "campus"}
    env = {
        "EXAMPLE_TEST_USERNAME": "u",
        "EXAMPLE_TEST_PASSWORD": "p-at-least-8",
        "EXAMPLE_CLIENT_SECRET": "c-secret-value",
        "PAGERDUTY_ROUTING_KEY": "k" * 32,
    }
    assert resolve_secrets(loaded, ["example"], environ=env)["example"].username == "u"
    assert resolve_routing_key(loaded, environ=env) == "k" * 32


PD = """
[pagerduty]
routing_key_env = "PD_KEY"
"""


def test_routing_key_of_the_wrong_length_is_named_with_its_source(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, HUB + PD))
    with pytest.raises(ConfigError) as info:
        resolve_routing_key(loaded, environ={"PD_KEY": "short"})
    assert info.value.lines == [
        f"{tmp_path / 'config.toml'}: pagerduty.routing_key: the key from PD_KEY has 5 "
        "characters; PagerDuty integration keys have 32"
    ]


def test_missing_routing_key_variable_is_one_line(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, HUB + PD))
    with pytest.raises(ConfigError) as info:
        resolve_routing_key(loaded, environ={})
    assert info.value.lines == [
        f"{tmp_path / 'config.toml'}: pagerduty.routing_key_env: environment variable PD_KEY "
        "is not set"
    ]


def test_no_pagerduty_table_means_no_paging(tmp_path: Path) -> None:
    assert resolve_routing_key(load(write(tmp_path, HUB)), environ={}) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('events_url = "http://events.example"', "events_url must be https://"),
        ("", None),
    ],
)
def test_pagerduty_events_url_must_be_https(
    tmp_path: Path, extra: str, message: str | None
) -> None:
    path = write(tmp_path, HUB + PD + extra + "\n")
    if message is None:
        load(path)
        return
    (line,) = errors_of(path)
    assert line.startswith(f"{path}: pagerduty: ") and message in line


def test_listen_must_be_host_and_port(tmp_path: Path) -> None:
    (line,) = errors_of(write(tmp_path, '[monitor]\nlisten = "9464"\n' + HUB))
    assert line.startswith(f'{tmp_path / "config.toml"}: monitor.listen: expected "HOST:PORT"')


def test_evidence_and_link_keys_have_documented_defaults(tmp_path: Path) -> None:
    m = MonitorConfig()
    assert (m.artifacts_dir, m.artifacts_keep, m.artifacts_max_age, m.public_url) == (
        "artifacts",
        50,
        14 * 86400.0,
        None,
    )


def test_days_are_a_duration_unit() -> None:
    assert parse_duration("14d") == 14 * 86400
    assert parse_duration("1d12h") == 36 * 3600


def test_runbooks_map_verdict_codes_with_a_default(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        HUB
        + '\n[runbooks]\nclient_secret_expired = "https://wiki.example.org/secret/"\n'
        + 'default = "https://wiki.example.org/login"\n'
    )
    c = load(path).config
    assert c.runbook("client_secret_expired") == "https://wiki.example.org/secret"
    assert c.runbook("timeout") == "https://wiki.example.org/login"


def test_unknown_runbook_code_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(HUB + '\n[runbooks]\nsecret_expird = "https://wiki.example.org/x"\n')
    with pytest.raises(ConfigError) as e:
        load(path)
    [line] = e.value.lines
    assert line.startswith(f"{path}: runbooks.secret_expird: unknown verdict code 'secret_expird'")
    assert "client_secret_expired" in line


def test_public_url_must_be_http_or_https(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[monitor]\npublic_url = "probe.example.org"\n' + HUB)
    with pytest.raises(ConfigError) as e:
        load(path)
    assert e.value.lines == [f"{path}: monitor.public_url: not an http(s) URL: 'probe.example.org'"]


SEAL = """
import os, subprocess, sys
from loginprobe.config import seal_environment, secret_environ
secret = os.environ["LP_TEST_PASSWORD"]
seal_environment(["LP_TEST_PASSWORD", "LP_NOT_SET"])
own = open("/proc/self/environ", "rb").read()
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('LP_TEST_PASSWORD'))"],
                       capture_output=True, text=True).stdout.strip()
# A reload reads the config again: the value read at start is what it finds.
from pathlib import Path
from loginprobe.monitor.settings import Settings
config = Path(sys.argv[1])
reloaded = Settings.load(config).secrets["h"].password.get_secret_value() == secret
print(secret.encode() in own, child, secret_environ()["LP_TEST_PASSWORD"] == secret,
      "LP_TEST_PASSWORD" in os.environ, reloaded)
"""


def test_sealed_secrets_leave_the_process_environment_and_a_reload_still_reads_them(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    config = write(tmp_path, HUB.replace('"H_PASS"', '"LP_TEST_PASSWORD"'))
    env = {**os.environ, "H_USER": "tester", "LP_TEST_PASSWORD": "correct-horse-battery-41"}
    done = subprocess.run(
        [sys.executable, "-c", SEAL, str(config)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # Not in /proc/self/environ, not inherited, still what the config's *_env keys read.
    assert done.stdout.split() == ["False", "None", "True", "False", "True"]


def test_env_names_are_every_env_key_the_config_names(tmp_path: Path) -> None:
    text = HUB + OAUTH + PD + '\n[monitor.auth]\ntoken_env = "STATUS_TOKEN"\n'
    loaded = load(write(tmp_path, text))
    assert env_names(loaded) == {"H_USER", "H_PASS", "H_CLIENT_SECRET", "PD_KEY", "STATUS_TOKEN"}


AUTH = """
[monitor.auth]
token_env = "STATUS_TOKEN"
"""


def test_the_endpoints_token_is_read_and_a_short_one_refused(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, AUTH + HUB))
    creds = resolve_auth(loaded, environ={"STATUS_TOKEN": "a-long-enough-token-123"})
    assert creds is not None and creds.token is not None
    assert creds.token.get_secret_value() == "a-long-enough-token-123"
    assert (creds.protect_healthz, creds.protect_metrics) == (False, True)
    with pytest.raises(ConfigError) as info:
        resolve_auth(loaded, environ={"STATUS_TOKEN": "short-token"})
    [line] = info.value.lines
    assert "monitor.auth.token" in line and "has 11 characters" in line
    assert "short-token" not in line


def test_auth_table_needs_a_token_or_a_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, '[monitor.auth]\nusername = "x"\n' + HUB))
    [line] = info.value.lines
    assert "monitor.auth" in line and "token_env" in line and "password_env" in line


@pytest.mark.parametrize(
    "pasted", ["CorrectHorseBatteryStaple9", "hunter2!x", "a8F3kd9Qz0x7Yb2WpL"]
)
def test_a_secret_pasted_into_an_env_key_is_never_repeated(tmp_path: Path, pasted: str) -> None:
    text = HUB.replace('password_env = "H_PASS"', f'password_env = "{pasted}"')
    try:
        loaded = load(write(tmp_path, text))
        lines = secret_errors(loaded, {"H_USER": "tester"})
    except ConfigError as e:
        lines = e.lines
    assert lines and all(pasted not in line for line in lines), lines
    assert any("password_env" in line for line in lines)


# -- the store's URL from the environment (monitor.state_env) -----------------------------------

STATE_URL = "postgresql+psycopg://probe:db-pass-7c1e9a@db.example.org:5432/loginprobe"


def test_state_env_puts_the_variables_url_where_every_reader_of_the_store_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LP_STATE", STATE_URL)
    loaded = load(write(tmp_path, f'[monitor]\nstate_env = "LP_STATE"\n{HUB}'))
    assert loaded.config.monitor.state == STATE_URL
    assert "LP_STATE" in env_names(loaded)  # sealed at start like every other secret


def test_state_env_naming_an_unset_variable_is_one_line_without_a_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LP_STATE", raising=False)
    path = write(tmp_path, f'[monitor]\nstate_env = "LP_STATE"\n{HUB}')
    assert errors_of(path) == [
        f"{path}: monitor.state_env: environment variable LP_STATE is not set"
    ]


def test_state_and_state_env_together_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, f'[monitor]\nstate = "sqlite:///s.sqlite"\nstate_env = "LP_STATE"\n{HUB}'
    )
    assert errors_of(path) == [f"{path}: monitor: set either state or state_env, not both"]
