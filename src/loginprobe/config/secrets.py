"""Resolving the secrets config.toml names: a `*_env` key names an environment variable, a
`*_file` twin a file. A missing secret is one line naming the variable (or file) and the hub, e.g.
    config.toml: hubs.utoronto.password_env: environment variable UTORONTO_PASSWORD is not set (hub utoronto)

A secret is refused when it is too short to mask safely (MIN_SECRET_LEN): such a value also occurs
in ordinary text, where masking it everywhere would show what it is. A `*_env` value that looks
like a secret rather than a variable's name is reported without being repeated.

`probe serve` and `probe run` take the variables the config names out of their own environment once
they are read (`seal_environment`): a compromised renderer that reaches the parent process finds
nothing in /proc/<pid>/environ, and children (Playwright's driver) never inherit them. A reload
reads the values taken at start.
"""

from __future__ import annotations

import os
import re
from collections import ChainMap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from loginprobe.config.loading import ConfigError, LoadedConfig
from loginprobe.secretforms import MIN_SECRET_LEN
from loginprobe.tokens import looks_like_a_secret

# The part of this process's environment that seal_environment() took out of it. The environment
# is process-wide state already; this is where its secret part went, so that reloads still read it.
_SEALED: dict[str, str] = {}


def secret_environ() -> Mapping[str, str]:
    """The environment as the config's `*_env` keys see it: what was taken out at start, then the
    process's own."""
    return ChainMap(_SEALED, os.environ)


def describe_env(key: str, name: str) -> str:
    """How a problem names the variable: by name, unless the name looks like a secret."""
    if looks_like_a_secret(name):
        return (
            f"the value of {key} looks like a secret, not the name of an environment variable "
            "(not shown; put the secret in a variable and name the variable here)"
        )
    return f"environment variable {name}"


def env_names(loaded: LoadedConfig) -> set[str]:
    """Every environment variable the config names (its `*_env` keys, at any depth)."""
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k.endswith("_env") and isinstance(v, str):
                    names.add(v)
                else:
                    walk(v)

    walk(loaded.config.model_dump())
    return names


def _wipe_from_process_environment(name: str) -> None:
    """Overwrite the variable's value where the process started with it: /proc/<pid>/environ
    shows that memory, and unsetenv() alone leaves it there."""
    import ctypes  # here: only `probe serve` and `probe run` seal their environment

    try:
        libc = ctypes.CDLL(None)
        envp = ctypes.c_void_p.in_dll(libc, "environ").value
    except (OSError, ValueError, AttributeError):
        return
    if not envp:
        return
    entries = ctypes.cast(envp, ctypes.POINTER(ctypes.c_void_p))
    prefix = name.encode() + b"="
    i = 0
    while entries[i]:
        address = entries[i]
        entry = ctypes.string_at(address)
        if entry.startswith(prefix):
            ctypes.memset(address + len(prefix), 0, len(entry) - len(prefix))
        i += 1


def seal_environment(names: Iterable[str]) -> list[str]:
    """Take these variables out of the process's environment, keeping their values for this
    process only (secret_environ); the names taken."""
    taken = []
    for name in sorted(set(names)):
        value = os.environ.get(name)
        if value is None:
            continue
        _SEALED[name] = value
        _wipe_from_process_environment(name)
        del os.environ[name]
        taken.append(name)
    return taken


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
            shown = describe_env(f"{key}_env", env)
            problems.append(f"{where}_env: {shown} {state} (hub {name})")
            return None
        return _long_enough(value, f"{where}_env", f"the value of {env}", key, name, problems)
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
        return _long_enough(value, f"{where}_file", file, key, name, problems)
    return None


# What needs no masking: the test account's name is shown in evidence on purpose.
_NOT_SECRET = frozenset({"username"})


def _long_enough(
    value: str, where: str, source: str, key: str, hub: str, problems: list[str]
) -> str | None:
    if key in _NOT_SECRET or len(value) >= MIN_SECRET_LEN:
        return value
    problems.append(
        f"{where}: {source} has {len(value)} characters; secrets need at least "
        f"{MIN_SECRET_LEN}: a shorter value also occurs in ordinary text, so it cannot be "
        f"masked in evidence and logs without showing what it is (hub {hub})"
    )
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
    env = secret_environ() if environ is None else environ
    key: str | None = None
    if pd.routing_key_env is not None and pd.routing_key_file is not None:
        problems.append(f"{where}_env: set either routing_key_env or routing_key_file, not both")
    elif pd.routing_key_env is not None:
        key = env.get(pd.routing_key_env) or None
        if key is None:
            shown = describe_env("routing_key_env", pd.routing_key_env)
            problems.append(f"{where}_env: {shown} is not set")
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
    if pd.ca_file is not None:
        problem = _ca_problem(loaded.file(pd.ca_file))
        if problem:
            problems.append(f"{loaded.path}: pagerduty.ca_file: {pd.ca_file}: {problem}")
    if problems:
        raise ConfigError(problems)
    return key


def resolve_heartbeat_url(
    loaded: LoadedConfig, environ: Mapping[str, str] | None = None
) -> str | None:
    """The heartbeat's ping URL, or None when [heartbeat] is not configured. The URL is a secret:
    no problem line quotes it."""
    hb = loaded.config.heartbeat
    if hb is None:
        return None
    where = f"{loaded.path}: heartbeat.url"
    env = secret_environ() if environ is None else environ
    url: str | None = None
    source = ""
    if hb.url_env is not None and hb.url_file is not None:
        raise ConfigError([f"{where}_env: set either url_env or url_file, not both"])
    if hb.url_env is not None:
        url, source = (env.get(hb.url_env) or "").strip(), describe_env("url_env", hb.url_env)
        if not url:
            raise ConfigError([f"{where}_env: {source} is not set"])
    elif hb.url_file is not None:
        source = hb.url_file
        try:
            url = loaded.file(hb.url_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(
                [f"{where}_file: cannot read {hb.url_file}: {err.strerror}"]
            ) from None
        if not url:
            raise ConfigError([f"{where}_file: {hb.url_file} is empty"])
    key = "url_env" if hb.url_env is not None else "url_file"
    if url is None or not re.fullmatch(r"https?://[^\s/?#]+\S*", url):
        raise ConfigError(
            [f"{loaded.path}: heartbeat.{key}: {source} does not hold an http(s) URL"]
        )
    return url


def _ca_problem(path: Path) -> str | None:
    """What is wrong with a CA file, or None if it holds certificates TLS can use."""
    import ssl

    if not path.is_file():
        return "no such file"
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except ssl.SSLError:
        return "not a PEM certificate file"
    except OSError as err:
        return f"cannot read: {err.strerror}"
    return None


def resolve_secrets(
    loaded: LoadedConfig, hubs: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, HubSecrets]:
    """Read every secret the named hubs need; all problems reported together."""
    env = secret_environ() if environ is None else environ
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


AUTH_MIN_LEN = 16


@dataclass(frozen=True)
class ServerCredentials:
    """What `probe serve`'s endpoints accept, read once at start ([monitor.auth])."""

    token: SecretStr | None
    username: str
    password: SecretStr | None
    protect_healthz: bool
    protect_metrics: bool

    def values(self) -> list[str]:
        return [s.get_secret_value() for s in (self.token, self.password) if s is not None]


def resolve_auth(
    loaded: LoadedConfig, environ: Mapping[str, str] | None = None
) -> ServerCredentials | None:
    """The endpoints' credentials, or None when [monitor.auth] is not configured."""
    auth = loaded.config.monitor.auth
    if auth is None:
        return None
    env = secret_environ() if environ is None else environ
    problems: list[str] = []
    found: dict[str, str | None] = {}
    for what in ("token", "password"):
        name, file = getattr(auth, f"{what}_env"), getattr(auth, f"{what}_file")
        where = f"{loaded.path}: monitor.auth.{what}"
        value: str | None = None
        if name is not None:
            value = env.get(name) or None
            if value is None:
                problems.append(f"{where}_env: {describe_env(f'{what}_env', name)} is not set")
        elif file is not None:
            try:
                value = loaded.file(file).read_text(encoding="utf-8").strip() or None
            except OSError as err:
                problems.append(f"{where}_file: cannot read {file}: {err.strerror}")
            else:
                if value is None:
                    problems.append(f"{where}_file: {file} is empty")
        if value is not None and len(value) < AUTH_MIN_LEN:
            source = name or file
            problems.append(
                f"{where}: the value from {source} has {len(value)} characters; the endpoints' "
                f"{what} needs at least {AUTH_MIN_LEN}: whoever reaches the port may guess"
            )
            value = None
        found[what] = value
    if problems:
        raise ConfigError(problems)
    token, password = found["token"], found["password"]
    return ServerCredentials(
        token=SecretStr(token) if token else None,
        username=auth.username,
        password=SecretStr(password) if password else None,
        protect_healthz=auth.protect_healthz,
        protect_metrics=auth.protect_metrics,
    )
