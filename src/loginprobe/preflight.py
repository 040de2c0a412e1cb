"""`probe check`: everything `probe serve` would refuse, found before it runs.

Each problem is one line naming the file, the key and the hub: the config and every secret it names
(present, long enough to mask), the PagerDuty routing key (present, 32 characters) and its CA file,
the endpoints' credentials, each hub's flow (it loads and has `login()`), the browser executable,
the store (it opens, is not corrupt and is writable) and the listen address (free). Notes say what
will run but deserves a word: Chromium without its sandbox, endpoints open to the network.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from loginprobe import config as cfg
from loginprobe.prober.browser import BrowserNotFound, Sandboxing, choose_executable, sandboxing
from loginprobe.prober.registry import load_flow


@dataclass
class Preflight:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sandbox: bool | None = None


def _config_lines(check: Callable[[], object]) -> list[str]:
    try:
        check()
    except cfg.ConfigError as e:
        return e.lines
    return []


def store_problem(url: str) -> str | None:
    """What stops `probe serve` from using its store, or None. A missing SQLite file is not
    created here: its directory must let `probe serve` create it."""
    from sqlalchemy.exc import SQLAlchemyError

    from loginprobe.store import Store, StoreError
    from loginprobe.store.store import check_writable, sqlite_path
    from loginprobe.store.url import store_error_reason

    path = sqlite_path(url)
    if path is not None and not path.exists():
        parent = path.parent if str(path.parent) else None
        where = parent or os.curdir
        if not os.path.isdir(where):
            return f"no directory {where} for the state store {path}"
        if not os.access(where, os.W_OK | os.X_OK):
            return f"cannot create the state store {path}: directory {where} is not writable"
        return None
    try:
        store = Store(url)
    except StoreError as e:
        return str(e)
    try:
        check_writable(store.engine)
    except SQLAlchemyError as e:
        return f"the state store is not writable: {store_error_reason(e, url)}"
    finally:
        store.close()
    return None


def listen_problem(host: str, port: int) -> str | None:
    """Whether `probe serve` could listen there now."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as e:
        return f"cannot resolve {host}: {e.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            taken = " (is `probe serve` already running?)" if e.errno == 98 else ""
            return f"{e.strerror}{taken}"
    return None


def preflight(
    loaded: cfg.LoadedConfig,
    playwright_chromium: Callable[[], str],
    sandbox: Callable[[], Sandboxing] = sandboxing,
) -> Preflight:
    from loginprobe.web.auth import exposure_warning

    c, path, out = loaded.config, loaded.path, Preflight()
    out.problems += _config_lines(lambda: cfg.resolve_secrets(loaded, c.hubs))
    out.problems += _config_lines(lambda: cfg.resolve_routing_key(loaded))
    out.problems += _config_lines(lambda: cfg.resolve_auth(loaded))
    out.problems += _config_lines(lambda: cfg.resolve_heartbeat_url(loaded))
    for name, hub in c.hubs.items():
        try:
            load_flow(hub.flow)
        except LookupError as e:
            out.problems.append(f"{path}: hubs.{name}.flow: {e} (hub {name})")
    try:
        choose_executable(c.browser.executable, playwright_chromium())
    except BrowserNotFound as e:
        out.problems.append(f"{path}: browser.executable: {e}")
    decided = sandbox()
    out.sandbox = decided.enabled
    if not decided.enabled:
        out.notes.append(decided.why)
    problem = store_problem(c.monitor.state)
    if problem:
        out.problems.append(f"{path}: monitor.state: {problem}")
    host, port = c.monitor.listen_address
    problem = listen_problem(host, port)
    if problem:
        out.problems.append(f"{path}: monitor.listen {c.monitor.listen}: {problem}")
    warning = exposure_warning(host, c.monitor.auth is not None)
    if warning:
        out.notes.append(warning)
    return out
