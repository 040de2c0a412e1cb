"""docs/configuration.md is generated from the config models and cannot drift from them."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from loginprobe.config import Duration, HttpUrl
from loginprobe.config import reference as configdoc
from loginprobe.model import Code

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_configuration_reference_matches_the_config_models() -> None:
    committed = DOC.read_text(encoding="utf-8")
    assert committed == configdoc.render(), (
        "docs/configuration.md is out of date with src/loginprobe/config/schema.py: "
        "regenerate it with scripts/configdoc and commit the result"
    )


def test_every_config_key_has_a_description() -> None:
    assert configdoc.undocumented() == [], (
        "give these fields a description= in src/loginprobe/config/schema.py, then run scripts/configdoc"
    )


def _keys(table: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in table.items():
        if prefix == "hubs":
            key = "NAME"  # [hubs.example] is documented as [hubs.NAME]
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _keys(value, name)
        else:
            yield name


def test_every_key_of_the_example_config_is_documented_in_its_table() -> None:
    example = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    documented = {f"{t.name}.{k.name}".lstrip(".") for t in configdoc.tables() for k in t.keys}
    # A free-form table (flow_options) is one documented key; its own keys are the flow's.
    used = {k for k in _keys(example) if not any(k.startswith(f"{d}.") for d in documented)} | {
        d for d in documented for k in _keys(example) if k.startswith(f"{d}.")
    }
    assert used - documented == set()
    # The example covers every table, sub-tables included.
    assert {t.name for t in configdoc.tables()} == {u.rpartition(".")[0] for u in used}


def test_types_and_defaults_read_as_the_file_spells_them() -> None:
    class Sample(BaseModel):
        """A sample table."""

        every: Duration = Field(90.0, description="a duration")
        maybe: Duration | None = Field(None, description="an optional duration")
        count: int = Field(2, ge=1, le=9, description="bounded")

    (table,) = configdoc._tables(Sample, "sample")
    rows = {k.name: (k.kind, k.default) for k in table.keys}
    assert rows == {
        "every": ("duration", '`"90s"`'),
        "maybe": ("duration", "unset"),
        "count": ("integer (≥ 1, ≤ 9)", "`2`"),
    }
    assert table.doc == "A sample table."


def test_tables_lists_and_choices_read_as_toml() -> None:
    class Sample(BaseModel):
        runbooks: dict[Code, HttpUrl] = Field(default_factory=dict, description="links")
        days: list[int] = Field(default_factory=lambda: [7, 1], description="days")
        keep: Duration = Field(7 * 86400.0, description="a week")

    (table,) = configdoc._tables(Sample, "sample")
    rows = {k.name: (k.kind, k.default) for k in table.keys}
    assert rows["runbooks"][0].startswith('table of `"ok"` or `"hub_unreachable"` or ')
    assert rows["runbooks"][0].endswith(" = URL (http/https)")
    assert rows["days"] == ("list of integer", "`[7, 1]`")
    assert rows["keep"] == ("duration", '`"168h"`')


def test_a_field_without_description_is_reported() -> None:
    class Bare(BaseModel):
        x: int = 1

    (table,) = configdoc._tables(Bare, "bare")
    assert table.keys[0].description == ""
