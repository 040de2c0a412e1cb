"""Loading config.toml: every problem becomes one line that names the file, the key and the hub,
e.g.
    config.toml: hubs.utoronto.flow: unknown flow 'azure'; available: ... (hub utoronto)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loginprobe.config.schema import Config
from loginprobe.prober.registry import is_flow_file, option_problems, resolve_flow_options
from loginprobe.tokens import looks_like_a_secret

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "LOGINPROBE_CONFIG"


class ConfigError(Exception):
    """One or more config problems, each a complete line for a human."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


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
        if looks_like_a_secret(str(err["input"])):
            return (
                "not an environment variable name, and it looks like a secret itself (not "
                "shown; put the secret in a variable and name the variable here)"
            )
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


def load(path: Path, import_flows: bool = True) -> LoadedConfig:
    """The config at `path`, checked, or ConfigError. `import_flows=False` leaves the flows
    unimported: their options go unchecked (a hub's own flow file must still exist). For commands
    that only read the store (`probe list`): importing a flow imports Playwright, a fifth of such a
    command's time."""
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
    problems = _check_flows(path, config, import_flows)
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(path, _with_state(path, config))


def _with_state(path: Path, config: Config) -> Config:
    """The config with `monitor.state` read from the variable `state_env` names: every reader of
    the store finds its URL in one place."""
    from loginprobe.config.secrets import describe_env, secret_environ

    name = config.monitor.state_env
    if name is None:
        return config
    url = secret_environ().get(name, "").strip()
    if not url:
        raise ConfigError(
            [f"{path}: monitor.state_env: {describe_env('state_env', name)} is not set"]
        )
    monitor = config.monitor.model_copy(update={"state": url})
    return config.model_copy(update={"monitor": monitor})


def _check_flows(path: Path, config: Config, import_flows: bool = True) -> list[str]:
    """Hub flow files exist (paths made absolute) and, with `import_flows`, load; flow_options
    suit their flow."""
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
        if not import_flows:
            continue
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
