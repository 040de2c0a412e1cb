"""heartbeat: the [heartbeat] table and its secret URL, and the loop that pings only while the
monitor is healthy (a fake clock and a fake sender at the edges)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog

from loginprobe.config import ConfigError, load, resolve_heartbeat_url
from loginprobe.monitor.heartbeat import Heartbeat, PingFailed, Target, host_of, secret_parts
from loginprobe.monitor.settings import Settings

URL = "https://hc-ping.com/5b3c8a34-9f0e-4c1a-9d36-2f6a1b0c7e11"
TOKEN = "5b3c8a34-9f0e-4c1a-9d36-2f6a1b0c7e11"
HUB = """
[hubs.h]
url = "https://hub.example.org"
flow = "generic_oidc"
username_env = "H_USER"
password_env = "H_PASS"
"""


def config(tmp_path: Path, heartbeat: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"[heartbeat]\n{heartbeat}\n{HUB}", encoding="utf-8")
    return path


def problems(path: Path, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        resolve_heartbeat_url(load(path), environ)
    return info.value.lines


# -- the config ------------------------------------------------------------------------------------
def test_heartbeat_url_comes_from_the_environment_and_interval_defaults_to_a_minute(
    tmp_path: Path,
) -> None:
    loaded = load(config(tmp_path, 'url_env = "HB_URL"'))
    assert loaded.config.heartbeat is not None
    assert loaded.config.heartbeat.interval == 60.0
    assert resolve_heartbeat_url(loaded, {"HB_URL": URL}) == URL


def test_heartbeat_url_can_come_from_a_file_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "hb-url").write_text(f"{URL}\n")
    loaded = load(config(tmp_path, 'url_file = "hb-url"\ninterval = "2m"'))
    assert resolve_heartbeat_url(loaded, {}) == URL
    assert loaded.config.heartbeat is not None and loaded.config.heartbeat.interval == 120.0


def test_no_heartbeat_table_means_no_url(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(HUB)
    assert resolve_heartbeat_url(load(path), {"HB_URL": URL}) is None


def test_heartbeat_without_a_url_source_is_one_line(tmp_path: Path) -> None:
    path = config(tmp_path, 'interval = "30s"')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.lines == [
        f"{path}: heartbeat: needs url_env (or url_file) naming where the ping URL comes from"
    ]


def test_heartbeat_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = config(tmp_path, 'url_env = "HB_URL"\nurl = "https://hc-ping.com/x"')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.lines == [f"{path}: heartbeat.url: unknown key"]


def test_missing_heartbeat_variable_is_one_line(tmp_path: Path) -> None:
    path = config(tmp_path, 'url_env = "HB_URL"')
    assert problems(path, {}) == [
        f"{path}: heartbeat.url_env: environment variable HB_URL is not set"
    ]


def test_heartbeat_value_that_is_not_a_url_is_named_without_quoting_it(tmp_path: Path) -> None:
    path = config(tmp_path, 'url_env = "HB_URL"')
    [line] = problems(path, {"HB_URL": TOKEN})  # the token alone, pasted by mistake
    assert (
        line
        == f"{path}: heartbeat.url_env: environment variable HB_URL does not hold an http(s) URL"
    )
    assert TOKEN not in line


def test_heartbeat_env_and_file_together_is_an_error(tmp_path: Path) -> None:
    path = config(tmp_path, 'url_env = "HB_URL"\nurl_file = "hb-url"')
    assert problems(path, {"HB_URL": URL}) == [
        f"{path}: heartbeat.url_env: set either url_env or url_file, not both"
    ]


def test_unreadable_heartbeat_file_is_one_line(tmp_path: Path) -> None:
    path = config(tmp_path, 'url_file = "nowhere"')
    assert problems(path, {}) == [
        f"{path}: heartbeat.url_file: cannot read nowhere: No such file or directory"
    ]


def test_the_monitor_masks_the_heartbeat_url_and_its_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"H_USER": "u", "H_PASS": "p-value-long", "HB_URL": URL}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.load(config(tmp_path, 'url_env = "HB_URL"\ninterval = "30s"'))
    assert settings.heartbeat == Target(URL, 30.0)
    said = settings.redactor.text(f"GET {URL}; 404 for /{TOKEN}; token {TOKEN}")
    assert TOKEN not in said
    assert URL not in repr(settings) and URL not in repr(settings.heartbeat)


def test_secret_parts_cover_the_token_in_path_query_and_userinfo() -> None:
    parts = secret_parts("https://user:pa55word@cronitor.link/p/apikey123/job?state=run&k=TOKEN9")
    text = "cronitor.link/p/apikey123/job?state=run&k=TOKEN9 and pa55word"
    for part in parts:
        text = text.replace(part, "***")
    assert "apikey123" not in text and "TOKEN9" not in text and "pa55word" not in text
    assert host_of(URL) == "https://hc-ping.com"


# -- the loop --------------------------------------------------------------------------------------
class Stop(Exception):
    pass


class FakeTime:
    """A monotonic clock that only moves when the loop sleeps; ends the run at `until`."""

    def __init__(self, until: float) -> None:
        self.now, self.until = 0.0, until

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.now > self.until:
            raise Stop
        await asyncio.sleep(0)


def run(hb: Heartbeat) -> None:
    async def main() -> None:
        with pytest.raises(Stop):
            await hb.run()

    asyncio.run(main())


def loop(
    healthy: Callable[[float], bool], fail_at: set[float] = frozenset(), until: float = 600
) -> tuple[list[float], list[dict[str, object]]]:
    """Run a heartbeat with interval 60 s until `until`; the times of the pings that got through,
    and what it logged."""
    t = FakeTime(until)
    pinged: list[float] = []

    async def send(url: str, timeout: float) -> None:
        assert (url, timeout) == (URL, 10.0)
        if t.now in fail_at:
            raise PingFailed("answered HTTP 503")
        pinged.append(t.now)

    hb = Heartbeat(lambda: Target(URL, 60.0), lambda: healthy(t.now), send, t, t.sleep)
    with structlog.testing.capture_logs() as logs:
        run(hb)
    return pinged, logs


def test_pings_every_interval_while_healthy_starting_one_interval_after_start() -> None:
    pinged, logs = loop(lambda now: True)
    assert pinged == [60, 120, 180, 240, 300, 360, 420, 480, 540, 600]
    assert logs == []


def test_no_ping_while_unhealthy_and_pings_resume_when_healthy_again() -> None:
    pinged, logs = loop(lambda now: not 200 <= now < 400)
    assert pinged == [60, 120, 180, 420, 480, 540, 600]
    assert [(e["log_level"], e["event"]) for e in logs] == [
        ("warning", "heartbeat withheld: the monitor is not healthy"),
        ("info", "heartbeat resumed: the monitor is healthy again"),
    ]
    assert all(e["target"] == "https://hc-ping.com" for e in logs)


def test_never_healthy_never_pings() -> None:
    pinged, _ = loop(lambda now: False)
    assert pinged == []


def test_a_failed_ping_is_logged_and_the_next_interval_pings_again() -> None:
    pinged, logs = loop(lambda now: True, fail_at={120.0, 180.0}, until=300)
    assert pinged == [60, 240, 300]
    assert [e["error"] for e in logs] == ["PingFailed: answered HTTP 503"] * 2
    assert all(TOKEN not in str(e) for e in logs)


def test_a_crash_in_the_health_check_is_logged_and_the_loop_lives_on() -> None:
    def healthy(now: float) -> bool:
        if now == 120:
            raise RuntimeError("store unreadable")
        return True

    pinged, logs = loop(healthy, until=240)
    assert pinged == [60, 180, 240]
    assert [e["event"] for e in logs] == ["heartbeat failed"]


def test_a_slow_ping_does_not_stretch_the_interval() -> None:
    t = FakeTime(until=300)
    pinged: list[float] = []

    async def slow_send(url: str, timeout: float) -> None:
        pinged.append(t.now)
        t.now += 7  # the ping took 7 s

    run(Heartbeat(lambda: Target(URL, 60.0), lambda: True, slow_send, t, t.sleep))
    assert pinged == [60, 120, 180, 240, 300]


def test_without_a_target_nothing_is_sent_until_a_reload_adds_one() -> None:
    t = FakeTime(until=400)
    target: list[Target | None] = [None]
    pinged: list[float] = []

    async def send(url: str, timeout: float) -> None:
        pinged.append(t.now)

    async def sleep(seconds: float) -> None:
        await t.sleep(seconds)
        if t.now >= 120:
            target[0] = Target(URL, 60.0)  # SIGHUP: [heartbeat] added

    run(Heartbeat(lambda: target[0], lambda: True, send, t, sleep))
    assert pinged == [120, 180, 240, 300, 360]


def test_the_example_config_names_its_heartbeat_url_in_the_environment() -> None:
    example = load(Path(__file__).resolve().parents[2] / "config.toml")
    env = {"LOGINPROBE_HEARTBEAT_URL": URL}
    assert resolve_heartbeat_url(example, environ=env) == URL


def test_stop_ends_the_heartbeat_even_when_a_ping_swallows_the_cancel() -> None:
    async def main() -> None:
        t = FakeTime(until=3600)
        sending = asyncio.Event()
        pings: list[float] = []

        async def send(url: str, timeout: float) -> None:
            pings.append(t.now)
            sending.set()
            with contextlib.suppress(asyncio.CancelledError):  # a client that loses the cancel
                await asyncio.Event().wait()

        hb = Heartbeat(lambda: Target(URL, 60.0), lambda: True, send, t, t.sleep)
        hb.start()
        await sending.wait()
        await asyncio.wait_for(hb.stop(), 5)
        assert pings == [60]

    asyncio.run(main())
