"""The local sandbox: real JupyterHub + OAuthenticator + configurable-http-proxy + a real IdP
(oidc-provider; or LemonLDAP::NG with `Sandbox(provider="lemonldap")`; or a provider stand-in).

One entry point shared by the tests, the demo and the benchmarks:

    with Sandbox() as sb:
        sb.set_fault("secret_expired")
        config = sb.write_config(tmp / "config.toml")
        ... run `probe --config config run sandbox` with env=sb.probe_env() ...

Every port is chosen free at start; every process is stopped at the end. Secrets (the client secret,
the test password) are random per sandbox, so a test can search every output for them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyotp

from sandbox import lemonldap
from sandbox.hostile import Corpus
from sandbox.pagerduty import PagerDutyReceiver
from sandbox.route import Route

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"

# Fault switches. IdP faults are PUT to the IdP's control port; hub faults go to a JSON file the
# hub reads per request; hub_down stops the proxy (the hub's public face).
IDP_FAULTS = {
    "secret_expired": "client secret expired (client_secret_expires_at in the past)",
    "secret_wrong": "the IdP holds another client secret than the hub and the prober",
    "redirect_uri_mismatch": "the IdP no longer has the hub's callback URL registered",
    "password_wrong": "the test account's password was changed at the IdP",
    "idp_down": "the IdP's port refuses connections",
    "idp_slow": "every IdP answer is delayed (value: seconds)",
    "consent_blocked": "consent page with no way through (admin approval required)",
    "js_form": "login form rendered by JavaScript after the page loads",
    "stay_signed_in": "a 'Stay signed in?' page after the password",
    "odd_form": "a login form whose username field no heuristic recognises",
    "hostile": 'the hostile-page corpus (sandbox/hostile.py): "idp_error" or "idp_login" here',
    "login_hang": "the IdP holds a login POST this many seconds before answering it",
    # The provider stand-ins (sandbox/standins) only:
    "clock_skew": "the IdP's clock runs this many seconds off the prober's (TOTP, Date header)",
    "totp_replayed": "the current window's TOTP code was already used (by another prober)",
    "aadsts": "Azure AD: the error page with this AADSTS code after sign-in (e.g. AADSTS50105)",
    "new_ui": "Azure AD: Microsoft's newer sign-in UI (#usernameEntry, #passwordEntry)",
    "mfa_push": "Azure AD: 'Approve sign in request' (push MFA the test account cannot answer)",
    "device_verification": "GitHub: the emailed device-verification code page after the password",
    "authorize_app": "GitHub: show the 'Authorize <app>' page even if authorized before",
    "app_suspended": "GitHub: the OAuth app is suspended (error back to the callback)",
}
# Faults only some IdPs have; the rest work everywhere.
PROVIDER_FAULTS = {
    "oidc": {"consent_blocked", "js_form", "stay_signed_in", "odd_form", "hostile", "login_hang"},
    "azuread": {"clock_skew", "totp_replayed", "aadsts", "new_ui", "mfa_push"},
    "github": {
        "clock_skew",
        "totp_replayed",
        "device_verification",
        "authorize_app",
        "app_suspended",
    },
    "cilogon": {"clock_skew", "totp_replayed"},
    # A real IdP not written by us: only what its own configuration can do (sandbox/lemonldap).
    "lemonldap": set(),
}
PROVIDERS = tuple(PROVIDER_FAULTS)
# IdPs whose faults are made by changing the real server's configuration, not by a control port:
# the IdP faults each can show.
REAL_IDP_FAULTS = {"lemonldap": lemonldap.FAULTS}
# The flow each provider's sandbox hub is probed with.
PROVIDER_FLOW = {
    "oidc": "generic_oidc",
    "azuread": "azuread",
    "github": "github",
    "cilogon": "cilogon",
    "lemonldap": "generic_oidc",
}
HUB_FAULTS = {
    "hub_down": "the hub's public port refuses connections",
    "login_500": "the hub answers 500 on /hub/oauth_login",
    "user_forbidden": "the hub refuses the test user (403)",
    "stale_secret": "the hub sends an old client secret (a reverted deployment)",
    "state_cookie_lost": "the hub's OAuth state cookie never reaches the callback",
    "hostile": 'the hostile-page corpus: "hub" serves its page as /hub/oauth_login\'s 500',
}
FAULTS = {**IDP_FAULTS, **HUB_FAULTS}
_IDP_WIRE_NAMES = {
    "idp_down": "down",
    "idp_slow": "slow_seconds",
    "login_hang": "login_hang_seconds",
}


class SandboxError(RuntimeError):
    pass


# Ports this process has handed out: the kernel may give a port just closed to the next bind to
# port 0, and a sandbox takes several before its servers bind them (a benchmark's hub once failed
# to bind its port: "Address already in use").
_GIVEN: set[int] = set()


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def _http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _wait_until(
    what: str, check: Any, proc: subprocess.Popen[bytes] | None, log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SandboxError(f"{what} exited with {proc.returncode}; log:\n{_tail(log)}")
        try:
            if check():
                return
        except (OSError, urllib.error.URLError) as err:
            last = err
        time.sleep(0.1)
    raise SandboxError(f"{what} not ready after {timeout:.0f}s ({last}); log:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Sandbox:
    """The running sandbox. Use as a context manager, or call start() and stop()."""

    workdir: Path | None = None
    # Which IdP the hub logs in with: "oidc" (the real oidc-provider) or a provider stand-in.
    provider: str = "oidc"
    # A TOTP seed for the test account (stand-ins only): the IdP then asks for a code.
    totp: bool = False
    username: str = "student"
    client_id: str = "jupyterhub"
    hub_log_level: str = "WARN"
    password: str = field(default_factory=lambda: "pw-" + secrets.token_urlsafe(12))
    client_secret: str = field(default_factory=lambda: "cs-" + secrets.token_urlsafe(24))
    # PagerDuty routing keys are 32 characters.
    routing_key: str = field(default_factory=lambda: secrets.token_hex(16))
    tenant: str = "sandbox-tenant"

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise SandboxError(f"unknown provider {self.provider!r}; known: {', '.join(PROVIDERS)}")
        if self.totp and self.provider in ("oidc", "lemonldap"):
            raise SandboxError("TOTP needs a provider stand-in (azuread, github, cilogon)")
        # Base32, as authenticator apps get it from a QR code.
        self.totp_secret = pyotp.random_base32() if self.totp else None
        self._own_workdir = self.workdir is None
        self.dir = Path(self.workdir or tempfile.mkdtemp(prefix="loginprobe-sandbox-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hub_port, self.hub_api_port, self.proxy_api_port = (
            free_port(),
            free_port(),
            free_port(),
        )
        self.idp_port, self.idp_control_port = free_port(), free_port()
        # Another location's path to the same hub (tests of the quorum across locations).
        self.route_b = Route(free_port(), self.hub_port)
        self.proxy_token = secrets.token_hex(16)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.faults: dict[str, Any] = {}
        self.pagerduty = PagerDutyReceiver(self.dir)
        self.lemonldap = (
            lemonldap.LemonLDAP(
                self.dir / "lemonldap",
                self.idp_port,
                client_id=self.client_id,
                client_secret=self.client_secret,
                redirect_uri=self.callback_url,
                username=self.username,
                password=self.password,
            )
            if self.provider == "lemonldap"
            else None
        )
        # Pages planted with leaks, for the `hostile` fault; `hostile.planted` says what is where.
        self.hostile = Corpus(self.password, self.client_secret)
        self.hostile_file = self.hostile.write(self.dir / "hostile.json")

    # -- addresses ----------------------------------------------------------------------------
    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def idp_url(self) -> str:
        return f"http://127.0.0.1:{self.idp_port}"

    @property
    def token_url(self) -> str:
        return {
            "oidc": f"{self.idp_url}/token",
            "azuread": f"{self.idp_url}/{self.tenant}/oauth2/v2.0/token",
            "github": f"{self.idp_url}/login/oauth/access_token",
            "cilogon": f"{self.idp_url}/oauth2/token",
            "lemonldap": f"{self.idp_url}/oauth2/token",
        }[self.provider]

    @property
    def callback_url(self) -> str:
        return f"{self.hub_url}/hub/oauth_callback"

    def log(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        needed = ["configurable-http-proxy"] + (
            ["oidc-provider"] if self.provider == "oidc" else []
        )
        if not all((NODE_MODULES / name).is_dir() for name in needed):
            raise SandboxError(f"npm packages missing: run `npm ci --prefix {HERE}`")
        if self.lemonldap is not None and not lemonldap.installed():
            raise SandboxError("LemonLDAP::NG is not installed: run scripts/setup (apt)")
        try:
            self.pagerduty.start()
            self._start_idp()
            self._start_proxy()
            self._start_hub()
            self.route_b.mend()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.route_b.cut()
        for name in list(self._procs)[::-1]:
            self._stop(name)
        self.pagerduty.stop()
        if self._own_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        log = self.log(name).open("ab")
        self._procs[name] = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def pids(self) -> list[int]:
        """The processes the sandbox runs (the hub, the IdP, the proxy) as they are now."""
        return [proc.pid for proc in self._procs.values()]

    def _stop(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def _start_idp(self) -> None:
        if self.lemonldap is not None:
            self._start_lemonldap()
            return
        env = {
            "IDP_PORT": str(self.idp_port),
            "IDP_CONTROL_PORT": str(self.idp_control_port),
            "IDP_CLIENT_ID": self.client_id,
            "IDP_CLIENT_SECRET": self.client_secret,
            "IDP_REDIRECT_URI": self.callback_url,
            "IDP_OTHER_REDIRECT_URIS": f"{self.route_b.url}/hub/oauth_callback",
            "IDP_USERNAME": self.username,
            "IDP_PASSWORD": self.password,
            "IDP_TOTP_SECRET": self.totp_secret or "",
            "IDP_HOSTILE_FILE": str(self.hostile_file),
        }
        if self.provider == "oidc":
            argv = ["node", str(HERE / "idp" / "server.mjs")]
        else:
            argv = [sys.executable, "-m", "sandbox.standins", self.provider]
        self._spawn("idp", argv, env, HERE.parent)
        control = f"http://127.0.0.1:{self.idp_control_port}/faults"
        _wait_until(
            "sandbox IdP",
            lambda: _http("GET", control)[0] == 200,
            self._procs["idp"],
            self.log("idp"),
        )

    def _start_lemonldap(self) -> None:
        assert self.lemonldap is not None
        if not self.lemonldap.ini.exists():
            self.lemonldap.write()
        self._spawn("idp", self.lemonldap.argv(), self.lemonldap.env(), self.lemonldap.dir)
        discovery = f"{self.idp_url}/.well-known/openid-configuration"
        _wait_until(
            "LemonLDAP::NG portal",
            lambda: _http("GET", discovery)[0] == 200,
            self._procs["idp"],
            self.log("idp"),
        )

    def _start_proxy(self) -> None:
        argv = [
            "node",
            str(NODE_MODULES / "configurable-http-proxy" / "bin" / "configurable-http-proxy"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.hub_port),
            "--api-ip",
            "127.0.0.1",
            "--api-port",
            str(self.proxy_api_port),
            "--default-target",
            f"http://127.0.0.1:{self.hub_api_port}",
            "--log-level",
            "warn",
        ]
        self._spawn("proxy", argv, {"CONFIGPROXY_AUTH_TOKEN": self.proxy_token}, HERE)
        api = f"http://127.0.0.1:{self.proxy_api_port}/api/routes"
        headers = {"Authorization": f"token {self.proxy_token}"}
        _wait_until(
            "configurable-http-proxy",
            lambda: _http("GET", api, headers=headers)[0] == 200,
            self._procs["proxy"],
            self.log("proxy"),
        )

    def _start_hub(self) -> None:
        state = self.dir / "hub"
        state.mkdir(exist_ok=True)
        self._write_hub_faults()
        env = {
            "SANDBOX_HUB_FAULTS": str(self.dir / "hub_faults.json"),
            "SANDBOX_HUB_STATE": str(state),
            "SANDBOX_IDP_URL": self.idp_url,
            "SANDBOX_HUB_URL": self.hub_url,
            "SANDBOX_HUB_OTHER_URLS": self.route_b.url,
            "SANDBOX_HUB_API_URL": f"http://127.0.0.1:{self.hub_api_port}",
            "SANDBOX_PROXY_API_URL": f"http://127.0.0.1:{self.proxy_api_port}",
            "SANDBOX_PROXY_TOKEN": self.proxy_token,
            "SANDBOX_CLIENT_ID": self.client_id,
            "SANDBOX_CLIENT_SECRET": self.client_secret,
            "SANDBOX_HUB_LOG_LEVEL": self.hub_log_level,
            "SANDBOX_PROVIDER": self.provider,
            "SANDBOX_TENANT": self.tenant,
            "SANDBOX_HOSTILE_FILE": str(self.hostile_file),
        }
        argv = [
            sys.executable,
            "-m",
            "jupyterhub",
            "-f",
            str(HERE / "hub" / "jupyterhub_config.py"),
        ]
        self._spawn("hub", argv, env, state)
        _wait_until(
            "JupyterHub",
            lambda: _http("GET", f"{self.hub_url}/hub/api")[0] == 200,
            self._procs["hub"],
            self.log("hub"),
            timeout=90,
        )

    # -- faults -------------------------------------------------------------------------------
    def set_fault(self, name: str, value: Any = True) -> None:
        """Turn a fault on (value True, or seconds for idp_slow) or off (False / 0)."""
        if name not in FAULTS:
            raise SandboxError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        real = REAL_IDP_FAULTS.get(self.provider)
        if real is not None and name in IDP_FAULTS and name not in real:
            raise SandboxError(
                f"fault {name!r} is not one the real IdP of provider {self.provider} can show "
                f"(it can: {', '.join(sorted(real))})"
            )
        only = [p for p, names in PROVIDER_FAULTS.items() if name in names]
        if only and self.provider not in only:
            raise SandboxError(f"fault {name!r} exists only with provider {', '.join(only)}")
        if value:
            self.faults[name] = value
        else:
            self.faults.pop(name, None)
        self._apply()

    def clear_faults(self) -> None:
        self.faults.clear()
        self._apply()

    @contextmanager
    def fault(self, name: str, value: Any = True) -> Iterator[None]:
        self.set_fault(name, value)
        try:
            yield
        finally:
            self.set_fault(name, False)

    def idp_counters(self) -> dict[str, Any]:
        """What the IdP stand-in counted (e.g. replays_refused), read from its control port."""
        status, body = _http("GET", f"http://127.0.0.1:{self.idp_control_port}/faults")
        if status != 200:
            raise SandboxError(f"IdP control port answered {status}")
        return dict(json.loads(body))

    def _apply(self) -> None:
        if self.lemonldap is not None:
            self._apply_lemonldap()
        else:
            self._apply_control_port()
        self._write_hub_faults()
        proxy_up = "proxy" in self._procs and self._procs["proxy"].poll() is None
        if self.faults.get("hub_down") and proxy_up:
            self._stop("proxy")
        elif not self.faults.get("hub_down") and not proxy_up and "hub" in self._procs:
            self._start_proxy()

    def _apply_control_port(self) -> None:
        wire = {_IDP_WIRE_NAMES.get(k, k): v for k, v in self.faults.items() if k in IDP_FAULTS}
        status, body = _http(
            "PUT", f"http://127.0.0.1:{self.idp_control_port}/faults", json.dumps(wire).encode()
        )
        if status != 200:
            raise SandboxError(f"IdP refused faults {wire}: {status} {body!r}")

    def _apply_lemonldap(self) -> None:
        """The faults as LemonLDAP::NG's own state: its configuration (a new number, as the
        manager saves), its user table, its process."""
        llng = self.lemonldap
        assert llng is not None
        llng.set_password(
            self.password + "-changed" if self.faults.get("password_wrong") else self.password
        )
        # A secret rotated at the IdP and never given to the hub or the prober.
        secret = (
            self.client_secret + "-rotated"
            if self.faults.get("secret_wrong")
            else self.client_secret
        )
        if llng.client_secret != secret:
            llng.client_secret = secret
            llng.save_conf()
            if self._idp_up():
                self._wait_for_lemonldap_conf(secret)
        if self.faults.get("idp_down") and self._idp_up():
            self._stop("idp")
        elif not self.faults.get("idp_down") and not self._idp_up():
            self._start_lemonldap()

    def _idp_up(self) -> bool:
        return "idp" in self._procs and self._procs["idp"].poll() is None

    def _wait_for_lemonldap_conf(self, secret: str) -> None:
        # The portal rereads its configuration number every second (checkTime): wait until its
        # token endpoint takes the secret just saved (an unknown code: invalid_grant).
        form = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": "sandbox-conf-check",
                "client_id": self.client_id,
                "client_secret": secret,
            }
        ).encode()
        _wait_until(
            "LemonLDAP::NG configuration reload",
            lambda: b"invalid_grant" in _http("POST", self.token_url, form)[1],
            self._procs["idp"],
            self.log("idp"),
            timeout=15,
        )

    def _write_hub_faults(self) -> None:
        path = self.dir / "hub_faults.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: v for k, v in self.faults.items() if k in HUB_FAULTS}))
        tmp.replace(path)

    # -- what a probe needs -------------------------------------------------------------------
    def probe_env(self) -> dict[str, str]:
        """Environment variables the sandbox config's *_env keys name."""
        return {
            "SANDBOX_USERNAME": self.username,
            "SANDBOX_PASSWORD": self.password,
            "SANDBOX_CLIENT_SECRET": self.client_secret,
            "SANDBOX_PD_ROUTING_KEY": self.routing_key,
            **({"SANDBOX_TOTP_SECRET": self.totp_secret} if self.totp_secret else {}),
        }

    def config_text(
        self,
        *,
        hub: str = "sandbox",
        oauth: bool = True,
        timeout: str = "30s",
        extra_hub: str = "",
        extra_oauth: str = "",
        pagerduty: bool = True,
        monitor: str = "",
    ) -> str:
        """A config.toml for this sandbox; `monitor` adds lines to [monitor]."""
        oauth_section = (
            f"""
[hubs.{hub}.oauth]
token_url = "{self.token_url}"
client_id = "{self.client_id}"
client_secret_env = "SANDBOX_CLIENT_SECRET"
{extra_oauth}
"""
            if oauth
            else ""
        )
        pagerduty_section = (
            f"""
[pagerduty]
routing_key_env = "SANDBOX_PD_ROUTING_KEY"
events_url = "{self.pagerduty.url}"
ca_file = "{self.pagerduty.ca_file}"
"""
            if pagerduty
            else ""
        )
        return f"""# Written by the sandbox for its own ports; secrets come from the environment.
[monitor]
timeout = "{timeout}"
{monitor}

[browser]
executable = ""
{pagerduty_section}
[hubs.{hub}]
url = "{self.hub_url}"
flow = "{PROVIDER_FLOW[self.provider]}"
username_env = "SANDBOX_USERNAME"
password_env = "SANDBOX_PASSWORD"
{'totp_secret_env = "SANDBOX_TOTP_SECRET"' if self.totp_secret else ""}
{extra_hub}{self._flow_options(hub)}
{oauth_section}"""

    def _flow_options(self, hub: str) -> str:
        if self.provider != "cilogon":
            return ""
        # CILogon hands the login to the institution's own page: a Shibboleth form.
        return f"""
[hubs.{hub}.flow_options]
institution = "Example University"
then = "generic_oidc"
"""

    def write_config(self, path: Path, **kwargs: Any) -> Path:
        path.write_text(self.config_text(**kwargs))
        return path
