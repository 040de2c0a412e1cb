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

from loginprobe.flows import (
    available_flows,
    is_flow_file,
    option_problems,
    resolve_flow_options,
)
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
    """How `probe serve` schedules probes, confirms incidents and where it keeps its state."""

    interval: Duration = Field(
        60.0, description="How often each hub is probed (start to start; first probes spread out)."
    )
    timeout: Duration = Field(
        45.0,
        description="One probe's whole budget; a probe that runs out is a `timeout` verdict "
        "naming the step.",
    )
    retry_after_failure: Duration = Field(
        20.0,
        description="After a failing probe, and until an incident has resolved, the next probe "
        "comes this soon instead of a full interval.",
    )
    secret_check_interval: Duration = Field(
        300.0,
        description="How often the OAuth secret check (and the TLS expiry check) runs on its own, "
        "between browser probes, for hubs with `[hubs.NAME.oauth]`.",
    )
    failures_to_alert: int = Field(
        2,
        ge=1,
        description="Consecutive failing probes before an incident opens and pages "
        "(a cause proven twice in one probe, an expired or invalid client secret, pages at once).",
    )
    successes_to_resolve: int = Field(
        2, ge=1, description="Consecutive good probes before an open incident resolves."
    )
    concurrency: int = Field(
        2,
        ge=1,
        le=32,
        description="Probes at once (one shared Chromium, a fresh browser context per probe).",
    )
    state: str = Field(
        "sqlite:///loginprobe.sqlite",
        description="SQLAlchemy URL of the store: verdict history, incident state and the "
        "PagerDuty outbox. A relative SQLite path is relative to the working directory.",
    )
    listen: Annotated[str, BeforeValidator(_listen)] = Field(
        "127.0.0.1:9464",
        description="HOST:PORT of `probe serve`'s HTTP endpoints: the status page (`/`, "
        "`/api/status`), `/healthz`, `/metrics` and the evidence (`/artifacts/`), none with "
        'authentication. Use "0.0.0.0:9464" in a container so they can be reached from outside '
        "it (the image's HEALTHCHECK asks port 9464).",
    )
    artifacts_dir: str = Field(
        "artifacts",
        description="Evidence of failing probes (screenshot, HTML, Playwright trace) goes to "
        "`artifacts_dir/<hub>/<UTC timestamp>/`; relative to the working directory, like `state`. "
        "Empty: keep no evidence (and record no trace).",
    )
    artifacts_keep: int = Field(
        50, ge=1, description="Evidence directories kept per hub, newest first."
    )
    artifacts_max_age: Duration = Field(
        14 * 86400.0, description='Evidence older than this is deleted (e.g. "14d").'
    )
    public_url: HttpUrl | None = Field(
        None,
        description="Where people reach `probe serve` (its status page and `/artifacts/...`): "
        "pages then link to the evidence and the status page.",
    )
    location: str = Field(
        "",
        description="Where the probes run from, named in every page; empty: this machine's "
        "hostname.",
    )
    expiry_warn_days: list[int] = Field(
        default_factory=lambda: [30, 14, 7, 1],
        min_length=1,
        description="Days before a client secret or TLS certificate expires at which to warn, "
        "once each (severity `error` in the last 7 days).",
    )

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
    """The Chromium that runs the probes."""

    executable: str = Field(
        "",
        description="Path of the Chromium to launch; empty: Playwright's own Chromium where "
        "installed (the container), else a system Chromium such as /usr/bin/chromium.",
    )


class PagerDuty(_Strict):
    """Where pages go (PagerDuty Events API v2). Leave the table out to run without paging."""

    routing_key_env: EnvName | None = Field(
        None,
        description="Environment variable holding the service's 32-character integration "
        "(routing) key. This or `routing_key_file` is required.",
    )
    routing_key_file: str | None = Field(
        None,
        description="File holding the routing key (relative to the config file), instead of "
        "`routing_key_env`.",
    )
    events_url: HttpUrl = Field(
        "https://events.pagerduty.com",
        description="Base URL of the Events API; must be https://.",
    )
    ca_file: str | None = Field(
        None,
        description="An extra CA certificate (PEM) to trust for `events_url`, e.g. a "
        "TLS-inspecting proxy's; `$SSL_CERT_FILE` works too.",
    )

    @model_validator(mode="after")
    def _key_named(self) -> PagerDuty:
        if self.routing_key_env is None and self.routing_key_file is None:
            raise ValueError("needs routing_key_env (or routing_key_file)")
        if not self.events_url.startswith("https://"):
            raise ValueError(f"events_url must be https:// (got {self.events_url!r})")
        return self


class OAuth(_Strict):
    """The hub's OAuth client, for the secret check and expiry warnings."""

    token_url: HttpUrl = Field(description="The IdP's token endpoint the hub uses.")
    client_id: str = Field(min_length=1, description="The hub's OAuth client id.")
    client_secret_env: EnvName | None = Field(
        None,
        description="Environment variable holding the hub's client secret (the one the hub "
        "should be running). This or `client_secret_file` is required.",
    )
    client_secret_file: str | None = Field(
        None,
        description="File holding the client secret (relative to the config file), instead of "
        "`client_secret_env`.",
    )
    # How the hub authenticates to the token endpoint: OAuthenticator's default sends the secret in
    # the POST body; `basic_auth = True` hubs use HTTP Basic.
    auth_method: Literal["client_secret_post", "client_secret_basic"] = Field(
        "client_secret_post",
        description="How the hub authenticates to the token endpoint: `client_secret_post` "
        "(OAuthenticator's default) or `client_secret_basic` (hubs with `basic_auth = True`).",
    )
    redirect_uri: HttpUrl | None = Field(
        None,
        description="The hub's callback URL, sent with the secret check because some servers "
        "refuse a client without it; unset: the hub's `url` + `/hub/oauth_callback`.",
    )
    secret_expires: date | None = Field(
        None,
        description="The date the client secret expires (a TOML date, `2027-09-01`): warnings "
        "at each of `[monitor] expiry_warn_days` before it.",
    )
    graph: bool = Field(
        False,
        description="Azure AD: read the secret's real end date from Microsoft Graph (the app "
        "needs Application.Read.All); `secret_expires` is the fallback. Needs `tenant`.",
    )
    tenant: str | None = Field(
        None, description="Azure AD tenant id or domain, for `graph = true`."
    )
    graph_url: HttpUrl = Field(
        "https://graph.microsoft.com", description="Microsoft Graph's base URL."
    )
    authority_url: HttpUrl = Field(
        "https://login.microsoftonline.com",
        description="Azure AD's authority, for the Graph token.",
    )

    @model_validator(mode="after")
    def _graph_needs_tenant(self) -> OAuth:
        if self.graph and not self.tenant:
            raise ValueError("graph = true needs tenant (the Azure AD tenant id or domain)")
        return self


class Selectors(_Strict):
    """Optional CSS/Playwright selectors for IdP pages the generic flow cannot read by itself."""

    username: str | None = Field(None, description="The username field.")
    password: str | None = Field(None, description="The password field.")
    submit: str | None = Field(None, description="The button that submits the login form.")
    consent: str | None = Field(None, description="The button that accepts a consent page.")


class Hub(_Strict):
    """One hub to probe; NAME appears in verdicts, pages and metrics."""

    url: HttpUrl = Field(description="The hub's base URL, e.g. https://hub.example.org.")
    flow: str = Field(
        description="The login flow that drives the IdP's pages: a name from `probes/` "
        "(`probe flows` lists them: `generic_oidc`, `azuread`, `github`, `cilogon`) or the path "
        "of your own flow file ending in `.py` (relative to the config file)."
    )
    username_env: EnvName | None = Field(
        None,
        description="Environment variable holding the test account's username. This or "
        "`username_file` is required.",
    )
    username_file: str | None = Field(
        None,
        description="File holding the username (relative to the config file), instead of "
        "`username_env`.",
    )
    password_env: EnvName | None = Field(
        None,
        description="Environment variable holding the test account's password. This or "
        "`password_file` is required.",
    )
    password_file: str | None = Field(
        None,
        description="File holding the password (relative to the config file), instead of "
        "`password_env`.",
    )
    totp_secret_env: EnvName | None = Field(
        None,
        description="Environment variable holding the test account's TOTP secret, for IdPs "
        "that demand a one-time code (base32, as the authenticator-app setup shows it).",
    )
    totp_secret_file: str | None = Field(
        None,
        description="File holding the TOTP secret (relative to the config file), instead of "
        "`totp_secret_env`.",
    )
    interval: Duration | None = Field(
        None, description="This hub's probe interval; unset: `[monitor] interval`."
    )
    timeout: Duration | None = Field(
        None, description="This hub's probe budget; unset: `[monitor] timeout`."
    )
    selectors: Selectors = Field(
        default_factory=Selectors,
        description="Selectors for IdP pages the generic flow cannot read by itself.",
    )
    flow_options: dict[str, str] = Field(
        default_factory=dict,
        description="Options of the hub's flow (`probe flows` lists each flow's), e.g. "
        '`institution = "University of Toronto"` for `cilogon`.',
    )
    oauth: OAuth | None = Field(
        None,
        description="The hub's OAuth client: enables the secret check and expiry warnings.",
    )

    @field_validator("flow")
    @classmethod
    def _known_flow(cls, value: str) -> str:
        if is_flow_file(value):
            return value  # a hub's own file: checked in load(), which knows the config's folder
        flows = available_flows()
        if value not in flows:
            raise ValueError(
                f"unknown flow {value!r}; available: {', '.join(sorted(flows))} "
                "(or the path of your own flow file, ending in .py)"
            )
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
    """The whole config.toml."""

    monitor: Monitor = Field(
        default_factory=Monitor, description="Scheduling, confirmation, state and endpoints."
    )
    browser: Browser = Field(default_factory=Browser, description="The Chromium to use.")
    pagerduty: PagerDuty | None = Field(
        None, description="Paging; leave out to run without (incidents are still logged)."
    )
    hubs: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")], Hub] = Field(
        min_length=1, description="The hubs to probe, at least one."
    )
    runbooks: dict[Annotated[str, BeforeValidator(_runbook_key)], HttpUrl] = Field(
        default_factory=dict,
        description="A runbook URL per verdict code (or `secret_expiring`, `tls_expiring`, "
        "`default`), linked from every page of that code.",
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
        config = Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_error_lines(path, err)) from None
    problems = _check_flows(path, config)
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(path, config)


def _check_flows(path: Path, config: Config) -> list[str]:
    """Hub flow files exist and load (paths made absolute); flow_options suit their flow."""
    problems: list[str] = []
    for name, hub in list(config.hubs.items()):
        if is_flow_file(hub.flow):
            file = (path.parent / hub.flow).resolve()
            if not file.is_file():
                problems.append(
                    f"{path}: hubs.{name}.flow: no such flow file {hub.flow} (hub {name})"
                )
                continue
            hub = config.hubs[name] = hub.model_copy(update={"flow": str(file)})
        try:
            options = resolve_flow_options(hub.flow, hub.flow_options, path.parent)
            if options != hub.flow_options:
                hub = config.hubs[name] = hub.model_copy(update={"flow_options": options})
            found = option_problems(hub.flow, hub.flow_options)
        except LookupError as err:
            problems.append(f"{path}: hubs.{name}.flow: {err} (hub {name})")
            continue
        problems += [f"{path}: hubs.{name}.flow_options.{p} (hub {name})" for p in found]
    return problems


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
