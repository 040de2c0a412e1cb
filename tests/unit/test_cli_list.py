"""`probe list`, `probe history`, `flows` and `check`: tables for people, JSON for machines."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loginprobe.model import Code
from loginprobe.monitor.tracks.track import Track
from loginprobe.store import Store
from tests.unit.fakes import timed_result


def test_list_shows_days_left_until_the_declared_secret_expiry(tmp_path: Path) -> None:
    expires = (datetime.now(UTC).date() + timedelta(days=12)).isoformat()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[hubs.h]
url = "https://hub.example.org"
flow = "generic_oidc"
username_env = "U"
password_env = "P"
[hubs.h.oauth]
token_url = "https://idp.example.org/token"
client_id = "hub"
client_secret_env = "S"
secret_expires = {expires}
""")
    proc = subprocess.run(
        [sys.executable, "-m", "loginprobe", "--config", str(config), "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    (row,) = json.loads(proc.stdout)
    assert (row["secret_expires"], row["secret_days_left"]) == (expires, 12)


# -- reading the monitor's store ---------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# `probe check` tries the listen address: not the default port, which a monitor may hold.
HUBS = f"""
[monitor]
state = "sqlite:///state.sqlite"
listen = "127.0.0.1:{_free_port()}"
[hubs.alpha]
url = "https://alpha.example.org"
flow = "generic_oidc"
username_env = "U"
password_env = "P"
[hubs.beta]
url = "https://beta.example.org"
flow = "generic_oidc"
username_env = "U"
password_env = "P"
"""


def probe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text(HUBS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORCE_")}
    env.update({"COLUMNS": "200", "U": "u", "P": "p-at-least-8"})
    return subprocess.run(
        [sys.executable, "-m", "loginprobe", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )


def test_list_without_a_store_says_so_in_one_line_and_still_lists_the_hubs(
    tmp_path: Path,
) -> None:
    proc = probe(tmp_path, "list")
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stderr.splitlines()
    assert "config.toml: monitor.state: no state store at state.sqlite yet" in line
    assert "alpha" in proc.stdout and "beta" in proc.stdout and "not probed" in proc.stdout
    assert not (tmp_path / "state.sqlite").exists()  # reading never creates the store
    rows = json.loads(probe(tmp_path, "list", "--json").stdout)
    assert [(r["hub"], r["verdict"], r["incident"]) for r in rows] == [
        ("alpha", None, None),
        ("beta", None, None),
    ]


def test_list_and_history_read_verdicts_incidents_and_steps_from_the_store(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    started = (datetime.now(UTC) - timedelta(seconds=30)).isoformat(timespec="seconds")
    for code, step_status in (("ok", "ok"), ("hub_error", "failed")):
        store.record(
            {
                "hub": "alpha",
                "ok": code == "ok",
                "verdict": {
                    "code": code,
                    "severity": "info" if code == "ok" else "critical",
                    "summary": f"alpha: {code}",
                    "step": "hub_login",
                    "evidence": {},
                },
                "steps": [
                    {"name": "hub_start", "status": "ok", "http_status": 200, "ms": 211},
                    {"name": "hub_login", "status": step_status, "http_status": 500, "ms": 37},
                ],
                "secret_check": None,
                "started_at": started,
                "duration_ms": 905,
            },
            {"loginprobe/alpha/login": Track(2, 0, "hub_error", started)},
            [],
            0.0,
            started,
        )
    store.close()
    rows = json.loads(probe(tmp_path, "list", "--json").stdout)
    alpha = rows[0]
    assert (alpha["verdict"], alpha["incident"], alpha["last_probe_at"]) == (
        "hub_error",
        "hub_error",
        started,
    )
    table = probe(tmp_path, "list").stdout
    assert "hub_error (login)" in table
    # Failing: the next probe was due retry_after_failure (20s) after the last one began, 30s
    # ago, and no monitor ran it.
    assert re.search(r"due \d+s ago", table), table
    history = json.loads(probe(tmp_path, "history", "alpha", "--json").stdout)
    assert [h["code"] for h in history] == ["hub_error", "ok"]
    assert history[0]["steps"][1] == {
        "name": "hub_login",
        "status": "failed",
        "http_status": 500,
        "ms": 37,
    }
    shown = probe(tmp_path, "history", "alpha").stdout
    assert "hub_start:211 · hub_login:37" in shown and "905" in shown


def test_list_loads_neither_playwright_nor_a_flow_nor_structlog(tmp_path: Path) -> None:
    """`probe list` of a fleet is meant to answer within a second (README, Numbers): it leaves out
    Playwright (imported by every flow) and structlog, about a fifth of a second each, and the
    rest it never uses: the web app, Alembic (the schema is checked by its version row), ctypes
    (for sealing secrets away)."""
    Store(f"sqlite:///{tmp_path / 'state.sqlite'}").close()
    (tmp_path / "config.toml").write_text(HUBS)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "loginprobe", "-c", "config.toml", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "alpha" in proc.stdout
    loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "sqlalchemy" in loaded  # the listing above is the one this looks through
    unused = ("playwright", "structlog", "aiohttp", "alembic", "jinja2", "httpx", "ctypes")
    heavy = {m for m in loaded if m.split(".")[0] in unused}
    assert not heavy, sorted(heavy)
    assert not {m for m in loaded if m.startswith(("loginprobe.probes", "loginprobe.web.app"))}


def test_the_cli_collects_garbage_again_once_imported_with_its_imports_frozen() -> None:
    """The collector is off while the CLI imports its libraries (a tenth of `probe list`'s CPU
    went to walking their objects): it must be on again for the commands, `probe serve`'s
    included, and what the imports made frozen out of its way."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, loginprobe.cli; print(gc.isenabled(), gc.get_freeze_count())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    enabled, frozen = proc.stdout.split()
    assert enabled == "True"
    assert int(frozen) > 10_000  # SQLAlchemy, pydantic, typer and rich's objects


def test_history_without_a_store_says_so_and_shows_nothing(tmp_path: Path) -> None:
    proc = probe(tmp_path, "history", "alpha", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == []
    assert "no state store at state.sqlite yet" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_flows_and_check_speak_json(tmp_path: Path) -> None:
    flows = {f["name"]: f for f in json.loads(probe(tmp_path, "flows", "--json").stdout)}
    assert {"generic_oidc", "azuread", "github", "cilogon"} <= set(flows)
    assert flows["generic_oidc"]["used_by"] == ["alpha", "beta"]
    assert set(flows["cilogon"]["options"]) == {"institution", "then"}
    ok = probe(tmp_path, "check", "--json")
    assert ok.returncode == 0
    report = json.loads(ok.stdout)
    capacity = report["capacity"]  # what this machine sustains for these two hubs
    assert capacity["enough"] is True and capacity["cpus"] >= 1
    assert {k: report[k] for k in ("config", "ok", "hubs", "problems")} == {
        "config": str(tmp_path / "config.toml"),
        "ok": True,
        "hubs": ["alpha", "beta"],
        "problems": [],
    }
    # Added: whether Chromium keeps its sandbox here, and notes on what runs but deserves a word.
    assert isinstance(report["sandbox"], bool) and isinstance(report["notes"], list)
    (tmp_path / "config.toml").write_text(
        HUBS.replace('password_env = "P"', 'password_env = "X"', 1)
    )
    bad = probe(tmp_path, "check", "--json")
    assert bad.returncode == 2
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    assert report["problems"] == [
        f"{tmp_path / 'config.toml'}: hubs.alpha.password_env: environment variable X is not set (hub alpha)"
    ]


def test_flows_lists_a_hub_s_own_flow_file_with_its_options(tmp_path: Path) -> None:
    (tmp_path / "campus.py").write_text(
        '"""Login on the campus SSO."""\nOPTIONS = {"realm": "which realm"}\n'
        "async def login(page, ctx):\n    pass\n"
    )
    (tmp_path / "config.toml").write_text(
        HUBS.replace('flow = "generic_oidc"', 'flow = "campus.py"', 1)
    )
    flows = {f["name"]: f for f in json.loads(probe(tmp_path, "flows", "--json").stdout)}
    own = flows[str(tmp_path / "campus.py")]
    assert own == {
        "name": str(tmp_path / "campus.py"),
        "file": True,
        "summary": "Login on the campus SSO.",
        "options": {"realm": "which realm"},
        "used_by": ["alpha"],
    }
    assert "Login on the campus SSO." in probe(tmp_path, "flows").stdout


def _two_hours_with_a_ten_minute_outage(tmp_path: Path) -> None:
    """alpha: a probe every 60 s for the last 2 h, ten of them hub_error; beta: never probed."""
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    now = datetime.now(UTC).timestamp()
    for i in range(120):
        code = Code.HUB_ERROR if 30 <= i < 40 else Code.OK
        t = now - 7200 + i * 60
        store.record(timed_result("alpha", code, t), {}, [], t, "x")
    store.close()


def test_list_and_report_show_availability_from_the_store(tmp_path: Path) -> None:
    _two_hours_with_a_ten_minute_outage(tmp_path)
    rows = json.loads(probe(tmp_path, "list", "--json").stdout)
    day = rows[0]["availability"]["24h"]
    assert day["down_s"] == 600.0
    # the latest probe speaks from its start until the command's now
    assert 6600.0 <= day["up_s"] <= 6660.0
    assert day["availability"] == pytest.approx(day["up_s"] / (day["up_s"] + 600.0), abs=1e-6)
    assert rows[0]["availability"]["30d"]["down_s"] == 600.0
    assert rows[1]["availability"] == {"24h": None, "7d": None, "30d": None}
    assert "91." in probe(tmp_path, "list").stdout  # 24 h: ~91.7%, red

    report = json.loads(probe(tmp_path, "report", "--since", "7d", "--json").stdout)
    alpha, beta = report["hubs"]
    assert (alpha["hub"], alpha["down_s"], beta["availability"]) == ("alpha", 600.0, None)
    assert beta["no_data_s"] == report["window_s"] == pytest.approx(7 * 86400, abs=3600)
    assert report["all"]["down_s"] == 600.0
    # the fleet's row sums the hubs' time: beta's whole week is time without data
    assert report["all"]["no_data_s"] == pytest.approx(alpha["no_data_s"] + beta["no_data_s"])
    assert report["all"]["availability"] == pytest.approx(alpha["availability"], abs=1e-5)

    lines = probe(tmp_path, "report", "--since", "30d", "--csv").stdout.splitlines()
    assert lines[0].split(",")[:4] == ["hub", "availability_percent", "up_s", "down_s"]
    csv_alpha = lines[1].split(",")
    assert csv_alpha[0] == "alpha" and csv_alpha[3] == "600"
    assert 91.6 < float(csv_alpha[1]) < 91.8
    assert lines[2].startswith("beta,,0,0,")

    table = probe(tmp_path, "report").stdout
    assert re.search(r"alpha\s.*9[01]\.\d{3}%\s.*10m", table), table


def test_report_names_a_bad_window_in_one_line(tmp_path: Path) -> None:
    proc = probe(tmp_path, "report", "--since", "a month")
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith("--since: invalid duration 'a month'")


def test_probe_list_shows_each_hubs_group_from_the_config() -> None:
    from loginprobe.cli.tables import list_rows, list_table
    from loginprobe.config.schema import Config
    from loginprobe.monitor.tracks.shared import Fleet

    hub = {"flow": "generic_oidc", "username_env": "U", "password_env": "P"}
    config = Config(
        hubs={
            "a": {**hub, "url": "https://a.example.org", "idp": "cilogon"},
            "b": {**hub, "url": "https://b.example.org"},
        }
    )
    rows = list_rows(config, {}, {}, datetime.now(UTC), None, None, Fleet({"a": "cilogon"}, {}))
    assert [(r["hub"], r["group"]) for r in rows] == [("a", "cilogon"), ("b", None)]
    table = list_table(rows, datetime.now(UTC))
    assert table.columns[1].header == "group"


def test_a_corrupt_or_empty_store_is_one_line_and_exit_2_for_list_and_history(
    tmp_path: Path,
) -> None:
    for content in (b"", b"not a database " * 200):
        (tmp_path / "state.sqlite").write_bytes(content)
        for args in (("list",), ("history", "alpha")):
            done = probe(tmp_path, *args)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            [line] = done.stderr.splitlines()
            assert "monitor.state" in line and "Traceback" not in done.stderr
