"""The config models: every table and key of config.toml, validated by pydantic.

Unknown keys are errors; durations take a unit; secrets are never values here, only the names of
the environment variables or files that hold them (`*_env` / `*_file`).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from loginprobe.model import Code
from loginprobe.monitor.silences import parse_window
from loginprobe.prober.registry import available_flows, is_flow_file

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


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


def _weekly_window(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f'expected a window such as "Sun 02:00-03:00 UTC", got {value!r}')
    parse_window(value)
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AuthConfig(_Strict):
    """Who may read `probe serve`'s endpoints: a bearer token (machines), HTTP basic auth (people
    with a browser), or both. With this table `/`, `/api/status` and `/artifacts/` always need
    one of them; without it every endpoint is open to whoever reaches `listen`."""

    token_env: EnvName | None = Field(
        None,
        description="Environment variable holding the bearer token, sent as `Authorization: "
        "Bearer <token>` (Prometheus' `authorization`, Kubernetes probes' `httpHeaders`). At "
        "least 16 characters.",
    )
    token_file: str | None = Field(
        None,
        description="File holding the bearer token (relative to the config file), instead of "
        "`token_env`.",
    )
    username: str = Field(
        "loginprobe", min_length=1, description="The user name for HTTP basic auth."
    )
    password_env: EnvName | None = Field(
        None,
        description="Environment variable holding the password for HTTP basic auth (what a "
        "browser asks for). At least 16 characters.",
    )
    password_file: str | None = Field(
        None,
        description="File holding the basic-auth password (relative to the config file), "
        "instead of `password_env`.",
    )
    protect_healthz: bool = Field(
        False,
        description="Require the credentials on `/healthz` too. Off by default: it says only "
        "whether the monitor works, and the image's HEALTHCHECK and Kubernetes' probes ask it.",
    )
    protect_metrics: bool = Field(
        True,
        description="Require the credentials on `/metrics` (it names the hubs and their "
        "verdicts). Prometheus sends the bearer token with `authorization: {credentials_file: "
        "...}`.",
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> AuthConfig:
        named = [self.token_env, self.token_file, self.password_env, self.password_file]
        if not any(v is not None for v in named):
            raise ValueError(
                "needs token_env (or token_file) for a bearer token, or password_env (or "
                "password_file) for basic auth"
            )
        for what in ("token", "password"):
            if getattr(self, f"{what}_env") and getattr(self, f"{what}_file"):
                raise ValueError(f"set either {what}_env or {what}_file, not both")
        return self


class MonitorConfig(_Strict):
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
        "between browser probes, for hubs with `[hubs.NAME.oauth]`. Its answer stands for the "
        "healthy browser probes' until the next (two intervals at most); a probe whose login "
        "failed takes a fresh one.",
    )
    failures_to_alert: int = Field(
        2,
        ge=1,
        description="Consecutive failing probes before an incident opens and pages; also "
        "consecutive probes failing with other codes before an open incident changes cause, and "
        "consecutive ones of the other severity before it moves between warning and outage "
        "(a cause proven twice in one probe, an expired or invalid client secret, and "
        "`probe run --alert` act at once).",
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
    lease_ttl: Duration = Field(
        30.0,
        description="Replicas of `probe serve` on one store share its hubs: each hub is leased "
        "by one replica, and one replica drains the outbox; leases are renewed every third of "
        "this, and again a second after a try the store did not answer: a database restart "
        "or failover shorter than two thirds of this, less a second, costs no hub (a try at "
        "an address that does not answer at all takes up to the 10 s connect timeout). A "
        "dead replica's hubs are taken over by the others within this long (plus a third of "
        "it), at once after a clean stop; a replica that cannot renew stops probing "
        "and paging when its leases run out. Keep it well under `interval`, so a killed "
        "replica's hubs are probed again within two intervals.",
    )
    replica: str = Field(
        "",
        description="This replica's name, shown by `probe list` and the status page against "
        "each hub it probes; empty: HOSTNAME-PID-START (START: when the process started, so that a "
        "restarted container, even with its old pid, takes its hubs back at once). A named "
        "replica restarted under the same name "
        "takes its hubs back at once instead of waiting out its old leases, so give every "
        "replica its own name (a StatefulSet's pod name, say).",
    )
    state: str = Field(
        "sqlite:///loginprobe.sqlite",
        description="SQLAlchemy URL of the store: verdict history, incident state and the "
        "PagerDuty outbox. A SQLite file (a relative path is relative to the working directory) "
        'or PostgreSQL: "postgresql+psycopg://USER@HOST:5432/DB" (README, "SQLite or '
        'PostgreSQL"). A password in the URL is never shown; better, keep it out of this file '
        "with `state_env`.",
    )
    state_env: EnvName | None = Field(
        None,
        description="Name of an environment variable holding `state`, for a URL with a "
        "password (CloudNativePG's `<cluster>-app` Secret has one under `uri`). Set either this "
        "or `state`.",
    )
    listen: Annotated[str, BeforeValidator(_listen)] = Field(
        "127.0.0.1:9464",
        description="HOST:PORT of `probe serve`'s HTTP endpoints: the status page (`/`, "
        "`/api/status`), `/healthz`, `/metrics` and the evidence (`/artifacts/`). Anything but "
        "loopback should have `[monitor.auth]` (`probe check` and `probe serve` warn without "
        'it). Use "0.0.0.0:9464" in a container so they can be reached from outside it (the '
        "image's HEALTHCHECK asks port 9464).",
    )
    auth: AuthConfig | None = Field(
        None,
        description="Authentication for the endpoints; without it they are open to whoever "
        "reaches `listen`.",
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
    history_max_age: Duration = Field(
        30 * 86400.0,
        description="Probe history older than this is deleted from the store (checked hourly); "
        "incident state and the outbox are never pruned.",
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
    quorum: int = Field(
        1,
        ge=1,
        description="Locations that must see a hub's login fail before its incident pages. "
        "Above 1, every hub is also probed each interval from every other location where a "
        "replica runs (a *witness*: it records what it saw, no incidents, no pages), and a "
        "failure seen from fewer locations is held back as that location's network's trouble, "
        "with a warning naming it. Needs `location` set (the same name for the replicas of one "
        "place). A quorum larger than the locations alive counts the live ones: a location "
        "gone never means silence.",
    )
    group_min_hubs: int = Field(
        3,
        ge=2,
        description="Hubs of one IdP (a group, see `[hubs.NAME] idp`) failing IdP-side at once "
        "that make one incident about the IdP (`loginprobe/idp/<group>/login`) instead of a page "
        "per hub; all of a smaller group's hubs (a group of one hub pages on its own).",
    )
    expiry_warn_days: list[int] = Field(
        default_factory=lambda: [30, 14, 7, 1],
        min_length=1,
        description="Days before a client secret or TLS certificate expires at which to warn, "
        "once each (severity `error` in the last 7 days).",
    )

    @model_validator(mode="after")
    def _one_state(self) -> MonitorConfig:
        if self.state_env is not None and "state" in self.model_fields_set:
            raise ValueError("set either state or state_env, not both")
        return self

    @model_validator(mode="after")
    def _quorum_needs_a_location(self) -> MonitorConfig:
        if self.quorum > 1 and not self.location.strip():
            raise ValueError(
                "quorum above 1 needs location: name where these replicas probe from (the "
                "same name for every replica of one place)"
            )
        return self

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


class BrowserConfig(_Strict):
    """The Chromium that runs the probes."""

    executable: str = Field(
        "",
        description="Path of the Chromium to launch; empty: Playwright's own Chromium where "
        "installed (the container), else a system Chromium such as /usr/bin/chromium.",
    )


class PagerDutyConfig(_Strict):
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
        "TLS-inspecting proxy's; `$SSL_CERT_FILE` and `$SSL_CERT_DIR` work too. Read again "
        "when the file changes.",
    )

    @model_validator(mode="after")
    def _key_named(self) -> PagerDutyConfig:
        if self.routing_key_env is None and self.routing_key_file is None:
            raise ValueError("needs routing_key_env (or routing_key_file)")
        if not self.events_url.startswith("https://"):
            raise ValueError(f"events_url must be https:// (got {self.events_url!r})")
        return self


class HeartbeatConfig(_Strict):
    """Watch the watcher: a URL that `probe serve` calls every `interval` only while it is
    active and healthy (a standby sends none: give one check to the fleet's monitors, not one
    each), for a dead man's switch (Healthchecks.io, Cronitor, Dead Man's Snitch) that pages
    when the pings stop: the monitor died, hangs or cannot do its job."""

    url_env: EnvName | None = Field(
        None,
        description="Environment variable holding the ping URL (e.g. "
        "`https://hc-ping.com/<uuid>`). It usually carries a token, so it is a secret: never in "
        "the file, masked in every output. This or `url_file` is required.",
    )
    url_file: str | None = Field(
        None,
        description="File holding the ping URL (relative to the config file), instead of "
        "`url_env`.",
    )
    interval: Duration = Field(
        60.0,
        description="How often to ping while healthy; the first ping comes one interval after "
        "start. Set the switch's grace period to a few intervals.",
    )

    @model_validator(mode="after")
    def _url_named(self) -> HeartbeatConfig:
        if self.url_env is None and self.url_file is None:
            raise ValueError("needs url_env (or url_file) naming where the ping URL comes from")
        return self


class OAuthConfig(_Strict):
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
    def _graph_needs_tenant(self) -> OAuthConfig:
        if self.graph and not self.tenant:
            raise ValueError("graph = true needs tenant (the Azure AD tenant id or domain)")
        return self


class SelectorsConfig(_Strict):
    """Optional CSS/Playwright selectors for IdP pages the generic flow cannot read by itself."""

    username: str | None = Field(None, description="The username field.")
    password: str | None = Field(None, description="The password field.")
    submit: str | None = Field(None, description="The button that submits the login form.")
    consent: str | None = Field(None, description="The button that accepts a consent page.")


class HubConfig(_Strict):
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
    password_stand_in: bool = Field(
        True,
        description="On every probe that records a trace (with `artifacts_dir` set: every "
        "`probe run`; in `probe serve`, each hub's first probe after the start and its "
        "retries while it fails or recovers) the flow types a random stand-in of the password's "
        "length, and the real password is put into the request the IdP's page sends: the "
        "browser's DOM and Playwright's working files never hold it. A probe that records no "
        "trace writes no working files and types the password itself, sparing the "
        "stand-in's CPU. Turn off for an IdP whose page transforms the password before "
        "sending it (hashes or encrypts it in the browser), which rejects the stand-in: "
        "`probe run` then fails as `login_rejected`, while `probe serve`, finding the "
        "password itself taken by the same login at once, warns and probes that hub without "
        "the stand-in for the next six hours. Off, the hub's probes never record a trace (it "
        "would hold the password): a failure keeps its screenshot and HTML. (A stand-in "
        "that leaves unchanged, in a request the rewrite does not see (a form posting into a "
        "new window, a form in a frame of another site) or a GET form's URL, followed "
        "by a rejection, an error or a page the flow cannot read, gives `probe_error`, naming "
        "the request.)",
    )
    interval: Duration | None = Field(
        None, description="This hub's probe interval; unset: `[monitor] interval`."
    )
    timeout: Duration | None = Field(
        None, description="This hub's probe budget; unset: `[monitor] timeout`."
    )
    selectors: SelectorsConfig = Field(
        default_factory=SelectorsConfig,
        description="Selectors for IdP pages the generic flow cannot read by itself.",
    )
    flow_options: dict[str, str] = Field(
        default_factory=dict,
        description="Options of the hub's flow (`probe flows` lists each flow's), e.g. "
        '`institution = "University of Toronto"` for `cilogon`.',
    )
    oauth: OAuthConfig | None = Field(
        None,
        description="The hub's OAuth client: enables the secret check and expiry warnings.",
    )
    idp: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="The hub's group: a name for the IdP it logs in through (e.g. "
        '`"cilogon"`). Unset: the host of `oauth.token_url`, else the host of the IdP pages its '
        "probes walk through. Hubs of a group whose IdP fails share one incident.",
    )
    maintenance: list[Annotated[str, BeforeValidator(_weekly_window)]] = Field(
        default_factory=list,
        description="Weekly windows in which this hub's outages page nobody, e.g. "
        '`["Sun 02:00-03:00 UTC"]` (probes and history go on; still failing at the end, it pages '
        "then, saying since when).",
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
    def _credentials_named(self) -> HubConfig:
        for what in ("username", "password"):
            if getattr(self, f"{what}_env") is None and getattr(self, f"{what}_file") is None:
                raise ValueError(
                    f"needs {what}_env (or {what}_file) naming where the test "
                    f"account's {what} comes from"
                )
        return self


class Config(_Strict):
    """The whole config.toml."""

    monitor: MonitorConfig = Field(
        default_factory=MonitorConfig, description="Scheduling, confirmation, state and endpoints."
    )
    browser: BrowserConfig = Field(
        default_factory=BrowserConfig, description="The Chromium to use."
    )
    pagerduty: PagerDutyConfig | None = Field(
        None, description="Paging; leave out to run without (incidents are still logged)."
    )
    heartbeat: HeartbeatConfig | None = Field(
        None,
        description="A dead man's switch for the monitor itself; leave out to run without.",
    )
    hubs: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")], HubConfig] = Field(
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
