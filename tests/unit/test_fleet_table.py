"""fleet_table: `probe list`'s table drawn fast, character for character what rich draws (pure)."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from loginprobe.cli.fleet_table import FleetTable
from loginprobe.cli.tables import list_table

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)

# Cell values that exercise rich's layout: long words to fold, spaces to wrap at, wide
# characters, control characters shown as escapes, markup-looking text, empty text.
WORDS = [
    "ok",
    "hub_unreachable",
    "client_secret_expired",
    "—",
    "",
    "https://hub-with-a-very-long-name.example.org/hub/oauth_callback?next=%2Fhub%2F",
    "東京大学のハブ",
    "x\x1b[2Jy",
    "[bold]not markup[/bold]",
    "a b c d e f g h i j k l m n o p",
    "idp:cilogon-and-more",
]


def hub_row(rng: random.Random, n: int) -> dict[str, Any]:
    def word() -> str:
        return rng.choice(WORDS)

    last = NOW - timedelta(seconds=rng.randrange(1, 10**6))
    verdict = rng.choice([None, "ok", "hub_unreachable", "login_rejected", word()])
    incidents = [
        {"code": rng.choice(["hub_error", word()]), "concern": rng.choice(["login", "tls"])}
        for _ in range(rng.choice([0, 0, 1, 2]))
    ]
    ratio = rng.choice([None, 1.0, 0.995, 0.91234])
    left = rng.choice([None, 10, -3])
    return {
        "hub": f"hub{n}" + rng.choice(["", "-" + word()]),
        "group": rng.choice([None, "cilogon", word()]),
        "replica": rng.choice([None, None, "replica-a", word()]),
        "verdict": verdict,
        "severity": rng.choice([None, "info", "warning", "critical"]),
        "last_probe_at": rng.choice([None, last.isoformat()]),
        "next_probe_at": rng.choice([None, (last + timedelta(seconds=60)).isoformat()]),
        "incidents": incidents,
        "availability": {w: {"availability": ratio} for w in ("24h", "7d", "30d")},
        "secret_days_left": left,
        "secret_expires": None if left is None else "2026-12-06",
        "url": rng.choice(["https://a.example", word(), word() + " " + word()]),
    }


def printed(renderable: RenderableType, width: int, terminal: bool) -> str:
    buf = io.StringIO()
    Console(
        file=buf,
        width=width,
        force_terminal=terminal,
        color_system="truecolor" if terminal else None,
        highlight=False,
        soft_wrap=True,
    ).print(renderable)
    return buf.getvalue()


@pytest.mark.parametrize("seed", range(6))
def test_the_list_table_prints_exactly_as_rich_prints_it_at_any_width(seed: int) -> None:
    rng = random.Random(seed)
    rows = [hub_row(rng, n) for n in range(rng.choice([1, 3, 12]))]
    for width in (8, 24, 60, 100, 120, 160, 400):
        for terminal in (False, True):
            want = printed(list_table(rows, NOW), width, terminal)
            got = printed(FleetTable(list_table(rows, NOW)), width, terminal)
            assert got == want, (seed, width, terminal)


def test_a_table_it_does_not_draw_itself_is_drawn_by_rich() -> None:
    table = Table(title="history", show_lines=True)
    table.add_column("a")
    table.add_column("b", justify="right")
    table.add_row(Text("one", style="red"), "[b]two[/b]")
    for width in (10, 80):
        assert printed(FleetTable(table), width, True) == printed(table, width, True)


def test_a_fleets_plain_cells_are_drawn_without_rich_rendering_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """200 hubs' rows cost rich a few renders (its own for each distinct cell with styles inside:
    the availability column), not one per cell: that is the 0.3 s of CPU it saves."""
    rng = random.Random(7)
    rows = [
        {
            **hub_row(rng, n),
            "hub": f"hub{n}",
            "group": rng.choice([None, "cilogon", "github"]),
            "replica": None,
            "verdict": rng.choice(["ok", "ok", "hub_unreachable"]),
            "incidents": [{"code": "hub_unreachable", "concern": "login"}] * rng.choice([0, 1]),
            "url": f"https://hub{n}.example.org/hub/",
        }
        for n in range(200)
    ]
    rendered: list[object] = []
    render_lines = Console.render_lines

    def counted(self: Console, renderable: Any, *args: Any, **kwargs: Any) -> Any:
        rendered.append(renderable)
        return render_lines(self, renderable, *args, **kwargs)

    want = printed(list_table(rows, NOW), 160, True)
    monkeypatch.setattr(Console, "render_lines", counted)
    got = printed(FleetTable(list_table(rows, NOW)), 160, True)
    assert got == want
    assert 0 < len(rendered) <= 2 * 4 * 3  # (the cell, its text) x ratios x severities
