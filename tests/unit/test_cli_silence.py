"""`probe silence`, `probe silences`, `probe unsilence`: the real command on a real store file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_cli_list import probe

GROUPED = """
[monitor]
state = "sqlite:///state.sqlite"
[hubs.alpha]
url = "https://alpha.example.org"
flow = "generic_oidc"
username_env = "U"
password_env = "P"
idp = "cilogon"
maintenance = ["Sun 02:00-03:00 UTC"]
"""


def test_a_silence_is_stored_listed_and_ended(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(GROUPED)
    made = probe(tmp_path, "silence", "alpha", "--for", "30m", "--reason", "deploy 7", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["target"] == "alpha"
    assert (
        probe(tmp_path, "silence", "idp:cilogon", "--until", "23:59", "--reason", "x").returncode
        == 0
    )
    listed = json.loads(probe(tmp_path, "silences", "--json").stdout)
    assert sorted(s["target"] for s in listed["silences"]) == ["alpha", "idp:cilogon"]
    assert listed["maintenance"] == {"alpha": ["Sun 02:00-03:00 UTC"]}
    ended = probe(tmp_path, "unsilence", "alpha")
    assert ended.returncode == 0 and "ended 1 silence of alpha" in ended.stdout
    listed = json.loads(probe(tmp_path, "silences", "--json").stdout)
    assert [s["target"] for s in listed["silences"]] == ["idp:cilogon"]


def test_bad_silences_are_one_line_errors_naming_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(GROUPED)
    for args, says in [
        (("silence", "nosuch", "--for", "5m", "--reason", "x"), "no hub named 'nosuch'"),
        (("silence", "idp:nosuch", "--for", "5m", "--reason", "x"), "no group named 'nosuch'"),
        (("silence", "alpha", "--reason", "x"), "give one of --for"),
        (("silence", "alpha", "--for", "5", "--reason", "x"), "--for: invalid duration"),
        (("silence", "alpha", "--until", "soon", "--reason", "x"), "invalid time 'soon'"),
        (("silence", "alpha", "--until", "2020-01-01T00:00Z", "--reason", "x"), "in the past"),
        (("unsilence", "alpha"), "no silence in force for 'alpha'"),
    ]:
        done = probe(tmp_path, *args)
        assert done.returncode == 2, (args, done.stdout)
        assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
