"""Resolving the secrets config.toml names: a `*_env` key names an environment variable, a
`*_file` twin a file. A missing secret is one line naming the variable (or file) and the hub, e.g.
    config.toml: hubs.utoronto.password_env: environment variable UTORONTO_PASSWORD is not set (hub utoronto)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from loginprobe.config.loading import ConfigError, LoadedConfig


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


def resolve_heartbeat_url(
    loaded: LoadedConfig, environ: Mapping[str, str] | None = None
) -> str | None:
    """The heartbeat's ping URL, or None when [heartbeat] is not configured. The URL is a secret:
    no problem line quotes it."""
    hb = loaded.config.heartbeat
    if hb is None:
        return None
    where = f"{loaded.path}: heartbeat.url"
    env = os.environ if environ is None else environ
    url: str | None = None
    source = ""
    if hb.url_env is not None and hb.url_file is not None:
        raise ConfigError([f"{where}_env: set either url_env or url_file, not both"])
    if hb.url_env is not None:
        url, source = (env.get(hb.url_env) or "").strip(), f"environment variable {hb.url_env}"
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
