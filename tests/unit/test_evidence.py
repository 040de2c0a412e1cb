"""evidence: retention (pure), the names /artifacts/ serves, and scrubbing what a trace recorded."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loginprobe.prober.evidence import Retention, artifact_path, parse_stamp, prune, stamp, to_prune
from loginprobe.prober.scrub import Scrubber, scrub_trace
from tests.tracezip import event_lines, trace_zip

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
DAY = 86400.0


def ago(**delta: float) -> str:
    return stamp(NOW - timedelta(**delta))


# -- retention ------------------------------------------------------------------------------------
def test_stamp_is_utc_sortable_and_parses_back() -> None:
    local = datetime(2026, 11, 26, 13, 0, 5, tzinfo=UTC).astimezone()
    assert stamp(local) == "20261126T130005Z"
    assert parse_stamp("20261126T130005Z") == (datetime(2026, 11, 26, 13, 0, 5, tzinfo=UTC), 1)
    assert parse_stamp("20261126T130005Z-3") == (datetime(2026, 11, 26, 13, 0, 5, tzinfo=UTC), 3)


@pytest.mark.parametrize(
    "name", ["notes", "20261126", "20261399T000000Z", "20261126T130005Z-", "../20261126T130005Z"]
)
def test_names_evidence_never_writes_are_not_stamps(name: str) -> None:
    assert parse_stamp(name) is None


def test_prune_keeps_the_newest_n() -> None:
    names = [ago(minutes=m) for m in (5, 1, 30, 10, 20)]
    gone = to_prune(names, NOW, Retention(keep=3, max_age_s=14 * DAY))
    assert sorted(gone) == sorted([ago(minutes=20), ago(minutes=30)])


def test_prune_deletes_what_is_older_than_max_age_even_under_the_count() -> None:
    names = [ago(days=1), ago(days=15), ago(days=13, hours=23)]
    assert to_prune(names, NOW, Retention(keep=50, max_age_s=14 * DAY)) == [ago(days=15)]


def test_prune_orders_same_second_collisions_by_suffix() -> None:
    base = ago(minutes=1)
    gone = to_prune([base, f"{base}-2", f"{base}-3"], NOW, Retention(keep=1, max_age_s=DAY))
    assert sorted(gone) == sorted([base, f"{base}-2"])


def test_prune_never_touches_names_it_did_not_write() -> None:
    names = ["README", "keep-me", ago(days=400)]
    assert to_prune(names, NOW, Retention(keep=1, max_age_s=DAY)) == [ago(days=400)]


def test_prune_on_disk_removes_directories_and_leaves_other_files(tmp_path: Path) -> None:
    for name in (ago(minutes=1), ago(minutes=2), ago(days=30)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "trace.zip").write_bytes(b"x")
    (tmp_path / "operator-notes").mkdir()
    gone = prune(tmp_path, NOW, Retention(keep=1, max_age_s=14 * DAY))
    assert sorted(gone) == sorted([ago(minutes=2), ago(days=30)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ago(minutes=1), "operator-notes"])


# -- what /artifacts/ may serve -----------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path) -> Path:
    d = tmp_path / "artifacts" / "hub1" / "20261126T120000Z"
    d.mkdir(parents=True)
    (d / "trace.zip").write_bytes(b"zip")
    (tmp_path / "secret.txt").write_text("outside")
    return tmp_path / "artifacts"


def test_artifact_path_finds_a_written_file(root: Path) -> None:
    assert (
        artifact_path(root, "hub1", "20261126T120000Z", "trace.zip")
        == (root / "hub1" / "20261126T120000Z" / "trace.zip").resolve()
    )


@pytest.mark.parametrize(
    ("hub", "stamp_name", "file"),
    [
        ("..", "20261126T120000Z", "trace.zip"),
        ("hub1", "..", "secret.txt"),
        ("hub1", "20261126T120000Z", "../../../secret.txt"),
        ("hub1", "20261126T120000Z", "config.toml"),
        ("hub1", "20261126T120000Z", "page.html"),  # not written for this probe
        ("/etc", "20261126T120000Z", "trace.zip"),
        ("hub1", "20261126T120001Z", "trace.zip"),
    ],
)
def test_artifact_path_refuses_everything_else(
    root: Path, hub: str, stamp_name: str, file: str
) -> None:
    assert artifact_path(root, hub, stamp_name, file) is None


def test_artifact_path_does_not_follow_a_symlink_out_of_the_root(root: Path) -> None:
    d = root / "hub1" / "20261126T130000Z"
    d.mkdir()
    (d / "page.html").symlink_to(root.parent / "secret.txt")
    assert artifact_path(root, "hub1", "20261126T130000Z", "page.html") is None


# -- scrubbing ----------------------------------------------------------------------------------
PASSWORD = 'pw-"Sé cret&x+y/z'
CLIENT_SECRET = "cs-0123456789abcdef"
SCRUB = Scrubber.of([PASSWORD, CLIENT_SECRET])


@pytest.mark.parametrize(
    "text",
    [
        f"typed {PASSWORD} here",
        "login=student&password=" + "pw-%22S%C3%A9%20cret%26x%2By%2Fz",
        "login=student&password=" + "pw-%22S%C3%A9+cret%26x%2By%2Fz",
        '<input value="pw-&quot;Sé cret&amp;x+y/z">',
        json.dumps({"v": PASSWORD}),
        f"Authorization: Basic xyz {CLIENT_SECRET}",
    ],
)
def test_scrubber_masks_a_secret_in_every_form_it_takes(text: str) -> None:
    out = SCRUB.html(text)
    assert not SCRUB.leaks(out.encode()), out
    assert "***" in out


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("http://hub/hub/oauth_callback?code=abc123&state=eyJzdGF0ZSI6IjEifQ&error=x", "error=x"),
        ("/cb#access_token=tok.en.value&token_type=bearer", "/cb"),
        ('{"access_token": "eyJabc", "expires_in": 3600}', '"expires_in": 3600'),
        ("Location: /hub/oauth_callback?state=s1&amp;code=c2", "Location"),
        ('<input type="hidden" name="_xsrf" value="2|abc|def">', 'name="_xsrf"'),
    ],
)
def test_scrubber_masks_oauth_codes_states_and_tokens(text: str, kept: str) -> None:
    out = SCRUB.html(text)
    for value in ("abc123", "eyJzdGF0ZSI6IjEifQ", "tok.en.value", "eyJabc", "s1", "c2", "2|abc"):
        assert value not in out, out
    assert kept in out


def test_scrub_trace_masks_typed_text_input_values_bodies_and_cookies() -> None:
    trace = event_lines(
        {"type": "before", "method": "fill", "params": {"selector": "#pw", "value": "123456"}},
        {"type": "before", "method": "goto", "params": {"url": "http://h/cb?code=zz9&x=1"}},
        {
            "type": "frame-snapshot",
            "snapshot": {
                "html": [
                    "INPUT",
                    {"type": "text", "name": "otp", "__playwright_value_": "654321"},
                    ["INPUT", {"type": "checkbox", "__playwright_value_": "on"}],
                ]
            },
        },
    )
    network = event_lines(
        {
            "type": "resource-snapshot",
            "snapshot": {
                "request": {
                    "url": "http://idp/login",
                    "headers": [
                        {"name": "Cookie", "value": "_session=abc"},
                        {"name": "Accept", "value": "text/html"},
                    ],
                    "cookies": [{"name": "_session", "value": "abc"}],
                    "postData": {
                        "mimeType": "application/x-www-form-urlencoded",
                        "_sha1": "f00.dat",
                        "params": [{"name": "password", "value": "x"}],
                    },
                },
                "response": {
                    "status": 302,
                    "headers": [{"name": "set-cookie", "value": "jupyterhub-session=s3"}],
                },
            },
        }
    )
    raw = trace_zip(
        {
            "trace.trace": trace,
            "trace.network": network,
            "resources/f00.dat": f"login=student&password={PASSWORD}".encode(),
            "resources/page.html": b'<p>hello</p><input type="hidden" name="state" value="st8">',
            "resources/blob.bin": b"\x00\xff" + CLIENT_SECRET.encode(),
            "screencast/p-1.jpeg": b"\xff\xd8jpeg",
        }
    )
    clean, report = scrub_trace(raw, SCRUB)
    z = zipfile.ZipFile(io.BytesIO(clean))
    assert sorted(report.dropped) == ["resources/blob.bin", "resources/f00.dat"]
    assert sorted(z.namelist()) == sorted(
        ["trace.trace", "trace.network", "resources/page.html", "screencast/p-1.jpeg"]
    )
    everything = b"".join(z.read(n) for n in z.namelist())
    for value in (b"123456", b"654321", b"zz9", b"_session=abc", b"s3", b"st8", b"password"):
        assert value not in everything, value
    events = [json.loads(line) for line in z.read("trace.trace").splitlines()]
    assert events[0]["params"] == {"selector": "#pw", "value": "***"}
    # Allow-listed: only diagnostics (error, ...) keep their values.
    assert events[1]["params"]["url"] == "http://h/cb?code=***&x=***"
    assert events[2]["snapshot"]["html"][2][1]["__playwright_value_"] == "on"
    request = json.loads(z.read("trace.network"))["snapshot"]["request"]
    assert request["headers"] == [{"name": "Accept", "value": "text/html"}]
    assert request["postData"] == {
        "mimeType": "application/x-www-form-urlencoded",
        "text": "",
        "params": [],
    }
    assert b"<p>hello</p>" in z.read("resources/page.html")
    assert z.read("screencast/p-1.jpeg") == b"\xff\xd8jpeg"


def test_playwright_log_lines_that_echo_typed_text_are_masked() -> None:
    # Found by the provider tests: the trace's "log" events say `fill("433810")` — a TOTP code
    # that no Scrubber knows, since the flow computed it during the probe.
    trace = event_lines(
        {"type": "log", "callId": "c@1", "time": 1.0, "message": '  fill("433810")'},
        {"type": "log", "callId": "c@2", "time": 2.0, "message": '  press("Enter")'},
    )
    out, _ = scrub_trace(trace_zip({"trace.trace": trace}), Scrubber.of(["pw-secret"]))
    text = zipfile.ZipFile(io.BytesIO(out)).read("trace.trace").decode()
    assert "433810" not in text
    assert 'fill(\\"***\\")' in text and "Enter" in text
