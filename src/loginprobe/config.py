"""config.toml: loading, validation, and resolving the secrets it names.

Every problem becomes one line that names the file, the key and the hub, e.g.
    config.toml: hubs.utoronto.password_env: environment variable UTORONTO_PASSWORD is not set (hub utoronto)
Secrets never live in the file: a `*_env` key names an environment variable, a `*_file` twin a file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from loginprobe.flows import available_flows
from loginprobe.model import Code

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "LOGINPROBE_CONFIG"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


class ConfigError(Exception):
    """One or more config problems, each a complete line for a human."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def parse_duration(value: object) -> float:
    """'90s', '2m', '1h', '14d', '500ms', '1m30s' -> seconds."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f'expected a duration with a unit such as "90s" or "2m", got {value!r}')
    text = value.strip()
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'invalid duration {value!r} (use e.g. "500ms", "90s", "2m", "1h")')
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    seconds = sum(float(n) * unit[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be more than zero")
    return seconds


def _http_url(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value.rstrip("/")


def _listen(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(
        r"(\[[0-9a-fA-F:]+\]|[^\s:\[\]]*):\d{1,5}", value
    ):
        raise ValueError(f'expected "HOST:PORT", e.g. "0.0.0.0:9464", got {value!r}')
    if not 0 < int(value.rpartition(":")[2]) < 65536:
        raise ValueError(f"port out of range in {value!r}")
    return value


# Keys of [runbooks]: a verdict code, an expiry warning's class, or "default" for the rest.
RUNBOOK_KEYS = (*(str(c) for c in Code), "secret_expiring", "tls_expiring", "default")


def _runbook_key(value: object) -> str:
    if not isinstance(value, str) or value not in RUNBOOK_KEYS:
        raise ValueError(f"unknown verdict code {value!r}; known: {', '.join(RUNBOOK_KEYS)}")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Monitor(_Strict):
    interval: Duration = 60.0
    timeout: Duration = 45.0
    retry_after_failure: Duration = 20.0
    # The secret check on its own, between browser probes (hubs with [hubs.NAME.oauth]).
    secret_check_interval: Duration = 300.0
    failures_to_alert: int = Field(2, ge=1)
    successes_to_resolve: int = Field(2, ge=1)
    concurrency: int = Field(2, ge=1, le=32)
    state: str = "sqlite:///loginprobe.sqlite"
    listen: Annotated[str, BeforeValidator(_listen)] = "127.0.0.1:9464"
    # Evidence of failing probes (screenshot, HTML, Playwright trace) goes to
    # artifacts_dir/<hub>/<UTC timestamp>/; relative to the working directory, like `state`.
    # Empty: keep no evidence (and record no trace).
    artifacts_dir: str = "artifacts"
    artifacts_keep: int = Field(50, ge=1)  # evidence directories kept per hub, newest first
    artifacts_max_age: Duration = 14 * 86400.0  # older evidence is deleted
    # Where people reach `probe serve` (its status page and /artifacts/...), for links in pages.
    public_url: HttpUrl | None = None
    # Where the probes run from, named in every page (default: this machine's hostname).
    location: str = ""
    # Days before a declared secret_expires at which to warn (once each).
    expiry_warn_days: list[int] = Field(default_factory=lambda: [30, 14, 7, 1], min_length=1)

    @field_validator("expiry_warn_days")
    @classmethod
    def _positive_days(cls, value: list[int]) -> list[int]:
        if any(d < 1 for d in value):
            raise ValueError(f"lead times must be whole days of at least 1, got {value}")
        return sorted(set(value), reverse=True)

    @property
    def listen_address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class Browser(_Strict):
    # Empty: Playwright's own Chromium where installed (the container), else /usr/bin/chromium.
    executable: str = ""


class PagerDuty(_Strict):
    routing_key_env: EnvName | None = None
    routing_key_file: str | None = None
    events_url: HttpUrl = "https://events.pagerduty.com"
    # An extra CA to trust for events_url (a TLS-inspecting proxy's); $SSL_CERT_FILE works too.
    ca_file: str | None = None

    @model_validator(mode="after")
    def _key_named(self) -> PagerDuty:
        if self.routing_key_env is None and self.routing_key_file is None:
            raise ValueError("needs routing_key_env (or routing_key_file)")
        if not self.events_url.startswith("https://"):
            raise ValueError(f"events_url must be https:// (got {self.events_url!r})")
        return self


class OAuth(_Strict):
    token_url: HttpUrl
    client_id: str = Field(min_length=1)
    client_secret_env: EnvName | None = None
    client_secret_file: str | None = None
    # How the hub authenticates to the token endpoint: OAuthenticator's default sends the secret in
    # the POST body; `basic_auth = True` hubs use HTTP Basic.
    auth_method: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"
    # The hub's callback URL, sent with the check because some servers refuse a client without it.
    # Default: the hub's url + /hub/oauth_callback.
    redirect_uri: HttpUrl | None = None
    secret_expires: date | None = None
    # Azure AD: read the secret's expiry from Microsoft Graph (the app needs
    # Application.Read.All); the declared secret_expires is the fallback.
    graph: bool = False
    tenant: str | None = None
    graph_url: HttpUrl = "https://graph.microsoft.com"
    authority_url: HttpUrl = "https://login.microsoftonline.com"

    @model_validator(mode="after")
    def _graph_needs_tenant(self) -> OAuth:
        if self.graph and not self.tenant:
            raise ValueError("graph = true needs tenant (the Azure AD tenant id or domain)")
        return self


class Selectors(_Strict):
    """Optional CSS/Playwright selectors for IdP pages the generic flow cannot read by itself."""

    username: str | None = None
    password: str | None = None
    submit: str | None = None
    consent: str | None = None


class Hub(_Strict):
    url: HttpUrl
    flow: str
    username_env: EnvName | None = None
    username_file: str | None = None
    password_env: EnvName | None = None
    password_file: str | None = None
    totp_secret_env: EnvName | None = None
    totp_secret_file: str | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    selectors: Selectors = Field(default_factory=Selectors)
    oauth: OAuth | None = None

    @field_validator("flow")
    @classmethod
    def _known_flow(cls, value: str) -> str:
        flows = available_flows()
        if value not in flows:
            raise ValueError(f"unknown flow {value!r}; available: {', '.join(sorted(flows))}")
        return value

    @model_validator(mode="after")
    def _credentials_named(self) -> Hub:
        for what in ("username", "password"):
            if getattr(self, f"{what}_env") is None and getattr(self, f"{what}_file") is None:
                raise ValueError(
                    f"needs {what}_env (or {what}_file) naming where the test "
                    f"account's {what} comes from"
                )
        return self


class Config(_Strict):
    monitor: Monitor = Field(default_factory=Monitor)
    browser: Browser = Field(default_factory=Browser)
    pagerduty: PagerDuty | None = None
    hubs: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")], Hub] = Field(
        min_length=1
    )
    # A runbook URL per verdict code (or "default"), linked from every page of that code.
    runbooks: dict[Annotated[str, BeforeValidator(_runbook_key)], HttpUrl] = Field(
        default_factory=dict
    )

    def runbook(self, code: str) -> str:
        return self.runbooks.get(code) or self.runbooks.get("default") or ""

    def hub_timeout(self, name: str) -> float:
        return self.hubs[name].timeout or self.monitor.timeout


@dataclass(frozen=True)
class LoadedConfig:
    path: Path
    config: Config

    def file(self, name: str) -> Path:
        """A path from the config: relative ones are relative to the config file."""
        return self.path.parent / name


def _describe(err: Mapping[str, Any]) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("missing", "too_short") and err["loc"] == ("hubs",):
        return "no hubs configured: add at least one [hubs.NAME] table"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch" and err["loc"][-1].endswith("_env"):
        return f"not an environment variable name: {err['input']!r}"
    return msg.removeprefix("Value error, ")


def _error_lines(path: Path, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        # A hub name that fails its pattern is reported by pydantic under "[key]".
        loc = [p for p in loc if p != "[key]"]
        key = ".".join(loc) or "(top level)"
        hub = f" (hub {loc[1]})" if len(loc) >= 2 and loc[0] == "hubs" else ""
        lines.append(f"{path}: {key}: {_describe(err)}{hub}")
    return lines


def config_path(arg: str | None) -> Path:
    return Path(arg or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load(path: Path) -> LoadedConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: no such config file (use --config PATH or ${CONFIG_ENV})"]
        ) from None
    except OSError as err:
        raise ConfigError([f"{path}: cannot read: {err.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{path}: invalid TOML: {err}"]) from None
    try:
        return LoadedConfig(path, Config.model_validate(raw))
    except ValidationError as err:
        raise ConfigError(_error_lines(path, err)) from None


# -- secrets -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubSecrets:
    username: str
    password: SecretStr
    totp_secret: SecretStr | None
    client_secret: SecretStr | None

    def values(self) -> list[str]:
        """Every secret value, for the redactor."""
        found = [self.password, self.totp_secret, self.client_secret]
        return [s.get_secret_value() for s in found if s is not None]


def _read_secret(
    path: Path,
    name: str,
    key: str,
    env: str | None,
    file: str | None,
    environ: Mapping[str, str],
    problems: list[str],
) -> str | None:
    where = f"{path}: hubs.{name}.{key}"
    if env is not None and file is not None:
        problems.append(f"{where}_env: set either {key}_env or {key}_file, not both (hub {name})")
        return None
    if env is not None:
        value = environ.get(env)
        if not value:
            state = "is empty" if value == "" else "is not set"
            problems.append(f"{where}_env: environment variable {env} {state} (hub {name})")
            return None
        return value
    if file is not None:
        try:
            # A relative path is relative to the config file, not to wherever probe runs.
            value = (path.parent / file).read_text(encoding="utf-8").strip()
        except OSError as err:
            problems.append(f"{where}_file: cannot read {file}: {err.strerror} (hub {name})")
            return None
        if not value:
            problems.append(f"{where}_file: {file} is empty (hub {name})")
            return None
        return value
    return None


def resolve_routing_key(
    loaded: LoadedConfig, environ: Mapping[str, str] | None = None
) -> str | None:
    """The PagerDuty routing key, or None when [pagerduty] is not configured."""
    pd = loaded.config.pagerduty
    if pd is None:
        return None
    problems: list[str] = []
    where = f"{loaded.path}: pagerduty.routing_key"
    env = os.environ if environ is None else environ
    key: str | None = None
    if pd.routing_key_env is not None and pd.routing_key_file is not None:
        problems.append(f"{where}_env: set either routing_key_env or routing_key_file, not both")
    elif pd.routing_key_env is not None:
        key = env.get(pd.routing_key_env) or None
        if key is None:
            problems.append(f"{where}_env: environment variable {pd.routing_key_env} is not set")
    elif pd.routing_key_file is not None:
        try:
            key = loaded.file(pd.routing_key_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            problems.append(f"{where}_file: cannot read {pd.routing_key_file}: {err.strerror}")
    if key is not None and len(key) != 32:
        source = pd.routing_key_env or pd.routing_key_file
        problems.append(
            f"{where}: the key from {source} has {len(key)} characters; "
            "PagerDuty integration keys have 32"
        )
    if pd.ca_file is not None and not loaded.file(pd.ca_file).is_file():
        problems.append(f"{loaded.path}: pagerduty.ca_file: no such file {pd.ca_file}")
    if problems:
        raise ConfigError(problems)
    return key


def resolve_secrets(
    loaded: LoadedConfig, hubs: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, HubSecrets]:
    """Read every secret the named hubs need; all problems reported together."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    out: dict[str, HubSecrets] = {}
    for name in hubs:
        hub = loaded.config.hubs[name]

        def read(
            key: str, env_name: str | None, file: str | None, hub_name: str = name
        ) -> str | None:
            return _read_secret(loaded.path, hub_name, key, env_name, file, env, problems)

        username = read("username", hub.username_env, hub.username_file)
        password = read("password", hub.password_env, hub.password_file)
        totp = read("totp_secret", hub.totp_secret_env, hub.totp_secret_file)
        client_secret = None
        if hub.oauth is not None:
            o = hub.oauth
            if o.client_secret_env is None and o.client_secret_file is None:
                problems.append(
                    f"{loaded.path}: hubs.{name}.oauth.client_secret_env: required "
                    f"key is missing (or client_secret_file) (hub {name})"
                )
            client_secret = _read_secret(
                loaded.path,
                name,
                "oauth.client_secret",
                o.client_secret_env,
                o.client_secret_file,
                env,
                problems,
            )
        if username is not None and password is not None:
            out[name] = HubSecrets(
                username=username,
                password=SecretStr(password),
                totp_secret=SecretStr(totp) if totp else None,
                client_secret=SecretStr(client_secret) if client_secret else None,
            )
    if problems:
        raise ConfigError(problems)
    return out
