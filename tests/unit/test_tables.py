"""tables: `probe list` / `probe history` rows and tables, and `probe run`'s live display (pure)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, RenderableType

from loginprobe.cli.tables import LiveSteps, history_table, list_rows, list_table
from loginprobe.config import Config
from loginprobe.model import Step
from loginprobe.monitor.tracks.track import Track

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)

CONFIG = Config.model_validate(
    {
        "monitor": {"interval": "60s", "retry_after_failure": "20s"},
        "hubs": {
            "good": {
                "url": "https://good.example",
                "flow": "generic_oidc",
                "username_env": "U",
                "password_env": "P",
                "oauth": {
                    "token_url": "https://idp.example/token",
                    "client_id": "c",
                    "client_secret_env": "S",
                    "secret_expires": "2026-12-06",
                },
            },
            "bad": {
                "url": "https://bad.example",
                "flow": "generic_oidc",
                "username_env": "U",
                "password_env": "P",
                "interval": "5m",
            },
            "new": {
                "url": "https://new.example",
                "flow": "generic_oidc",
                "username_env": "U",
                "password_env": "P",
            },
        },
    }
)


def history_row(code: str, started_at: str) -> dict[str, Any]:
    return {
        "code": code,
        "severity": "info" if code == "ok" else "critical",
        "summary": f"x: {code}",
        "step": None,
        "started_at": started_at,
        "duration_ms": 1500,
        "steps": [
            {"name": "hub_start", "status": "ok", "http_status": 200, "ms": 244},
            {"name": "oauth_callback", "status": "failed", "http_status": 500, "ms": 88},
        ],
        "evidence": None,
    }


def text(renderable: RenderableType, width: int = 200) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(renderable)
    return buf.getvalue()


def rows() -> list[dict[str, Any]]:
    latest = {
        "good": history_row("ok", "2026-11-26T11:59:30+00:00"),
        "bad": history_row("hub_error", "2026-11-26T11:55:00+00:00"),
    }
    tracks = {"loginprobe/bad/login": Track(3, 0, "hub_error", "2026-11-26T11:50:00+00:00")}
    since = {"good": "2026-11-25T08:00:00+00:00", "bad": "2026-11-26T11:49:00+00:00"}
    return list_rows(CONFIG, latest, tracks, NOW, since)


def test_list_rows_carry_verdict_last_and_next_probe_and_open_incident() -> None:
    good, bad, new = rows()
    assert (good["hub"], good["verdict"], good["since"]) == (
        "good",
        "ok",
        "2026-11-25T08:00:00+00:00",
    )
    assert good["last_probe_at"] == "2026-11-26T11:59:30+00:00"
    assert good["next_probe_at"] == "2026-11-26T12:00:30+00:00"  # + interval
    assert good["incident"] is None and good["incidents"] == []
    assert (good["secret_expires"], good["secret_days_left"]) == ("2026-12-06", 10)
    assert bad["next_probe_at"] == "2026-11-26T11:55:20+00:00"  # + retry_after_failure
    assert bad["incident"] == "hub_error"
    assert [i["concern"] for i in bad["incidents"]] == ["login"]
    assert (new["verdict"], new["last_probe_at"], new["next_probe_at"]) == (None, None, None)
    # The keys `probe list --json` had before the store was read are all still there.
    assert {"hub", "url", "flow", "secret_check", "timeout_s", "secret_expires"} <= set(new)


def test_list_table_says_when_a_probe_is_overdue_and_names_incidents() -> None:
    shown = text(list_table(rows(), NOW))
    assert "in 30s" in shown  # good: next probe ahead
    assert "due 5m ago" in shown  # bad: the monitor is behind (not running?)
    assert "hub_error (login)" in shown
    assert "not probed" in shown
    assert "2026-12-06 (10 days)" in shown


def test_history_table_shows_each_probes_step_timings() -> None:
    shown = text(history_table("bad", [history_row("hub_error", "2026-11-26T11:55:00+00:00")], NOW))
    assert "history bad" in shown
    assert "11:55:00 (5m ago)" in shown
    assert "hub_start:244 · oauth_callback:88" in shown
    assert "1500" in shown and "x: hub_error" in shown


def test_live_display_shows_done_steps_with_ms_and_the_running_one_with_elapsed_time() -> None:
    t = [100.0]
    live = LiveSteps("sandbox", clock=lambda: t[0])
    assert "starting Chromium" in text(live.render())
    live("hub_start", None)
    t[0] = 100.25
    live("hub_start", Step("hub_start", "ok", 200, "", 250))
    live("hub_login", None)
    t[0] = 101.55
    shown = text(live.render())
    assert "✓ hub_start" in shown and "250 ms" in shown and "200" in shown
    assert "hub_login" in shown and "1.3 s" in shown
    live("hub_login", Step("hub_login", "failed", 500, "", 1250))
    shown = text(live.render())
    assert "✗ hub_login" in shown and "1250 ms" in shown


HOSTILE_SUMMARY = (
    "x: hub_error \x1b[2J\x1b[H\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07 "
    "\x1b[32mok\x1b[0m line\roverwritten \x9b31m \u202eexe.txt [bold]markup[/bold]"
)
ACTING = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def test_a_summary_from_a_page_cannot_act_on_the_terminal() -> None:
    row = {**history_row("hub_error", "2026-11-26T11:55:00+00:00"), "summary": HOSTILE_SUMMARY}
    buf = io.StringIO()
    # A real terminal: rich writes its own colours, but nothing the page sent.
    Console(file=buf, width=400, force_terminal=True, color_system="truecolor").print(
        history_table("bad", [row], NOW)
    )
    out = buf.getvalue()
    for sequence in ("\x1b[2J", "\x1b[H", "\x1b]8;;", "\x07", "\r", "\x9b", "\u202e"):
        assert sequence not in out, repr(sequence)
    assert "\\x1b[2J" in text(history_table("bad", [row], NOW), width=400)  # shown, not acted on
    assert "[bold]markup[/bold]" in text(history_table("bad", [row], NOW), width=400)


def test_list_shows_control_characters_in_values_as_escapes() -> None:
    (good, *_) = rows()
    out = text(list_table([{**good, "url": "https://h/\x1b[2J"}], NOW), width=400)
    assert not any(c in out for c in ACTING)
    assert "\\x1b[2J" in out
