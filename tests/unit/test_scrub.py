"""Nothing from a page reaches an output unless it is known to be harmless: known secrets in every
encoding, credentials nobody told us about by their shape and place, page.html and the trace
rewritten to an allow-list, and the one gist that quotes a page in a summary."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest

from loginprobe.prober.gist import gist
from loginprobe.prober.scrub import Scrubber, scrub_trace
from loginprobe.redact import Redactor, mask_unknown, redact_url
from tests.leaks import base64_forms, found_in, text_forms
from tests.tracezip import event_lines, trace_zip

PASSWORD = "Correct/Horse+Battery9"
CLIENT_SECRET = 'cs-"0123456789&abcdef'
REDACTOR = Redactor([PASSWORD, CLIENT_SECRET])
SCRUB = Scrubber.of([PASSWORD, CLIENT_SECRET])


def every_form(secret: str) -> list[tuple[str, str]]:
    forms = {**text_forms(secret), **base64_forms(secret)}
    out = [(name, f"before {form} after") for name, form in forms.items()]
    out.append(("upper case", f"before {secret.upper()} after"))
    out.append(("split across lines", f"before {secret[:5]}\n   {secret[5:12]}<br>{secret[12:]}"))
    out.append(("JSON \\/ inside a document", json.dumps({"pw": secret}).replace("/", "\\/")))
    out.append(("inside a longer base64 run", base64.b64encode(f"u:{secret}!".encode()).decode()))
    return out


@pytest.mark.parametrize(
    ("form", "text"), every_form(PASSWORD) + every_form(CLIENT_SECRET), ids=lambda v: str(v)[:40]
)
def test_a_known_secret_is_masked_in_every_encoding_a_page_or_library_gives_it(
    form: str, text: str
) -> None:
    out = REDACTOR.text(text)
    assert found_in(out, PASSWORD) == [] and found_in(out, CLIENT_SECRET) == [], (form, out)
    assert "***" in out
    assert REDACTOR.found(text)


def test_a_secret_that_is_not_there_is_not_found() -> None:
    assert not REDACTOR.found("Correct Horse, Battery 9 — a sentence, not the password")


def test_one_time_codes_are_masked_only_where_they_stand_alone() -> None:
    r = Redactor(tokens=["654321"])
    assert r.text("code 654321 typed; hash a6543210b") == "code *** typed; hash a6543210b"


# -- gist: the one way a page's words enter a summary -------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "Sign-in error\nError: invalid_redirect_uri\nredirect_uri did not match",
        "AADSTS50011: The redirect URI specified does not match. Trace ID: "
        "1f2e3d4c-5b6a-7980-1a2b-3c4d5e6f7a8b",
        "An access token was not returned: The client_id and/or client_secret passed are "
        "incorrect.",
        "the client secret is expired",
        "Error code: AADSTS7000222",
        "Invalid username or password.",
    ],
)
def test_gist_keeps_error_codes_and_short_human_messages(text: str) -> None:
    assert gist(text) == " | ".join(line for line in text.splitlines())


@pytest.mark.parametrize(
    ("text", "planted"),
    [
        ('{"token": "a8F3kd9Qz0x7Yb2WpL"}', "a8F3kd9Qz0x7Yb2WpL"),
        ('{"session_token": "Zz9y8x7w6v5u4t3s"}', "Zz9y8x7w6v5u4t3s"),
        ("accessToken = 'AbCdEf0123456789xyz'", "AbCdEf0123456789xyz"),
        ("id_token :\n  eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGciOiJSUzI1NiJ9"),
        ("see /reset/3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c/confirm", "3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"),
        ("ticket=ST-1234-aBcDeFgHiJkLmNoP-cas", "aBcDeFgHiJkLmNoP"),
        ("SAMLart=AAQBAA1234abcd", "AAQBAA1234abcd"),
        ("auth_code=zz99qq", "zz99qq"),
        ("sid=abc123", "abc123"),
        ("Session: 8d3b", "8d3b"),
        ("back to /hub/login?next=/x%3Fcode%3Dsecretcode123", "secretcode123"),
        ("Authorization: Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),
        ("raw token dGhpcyBpcyBhIHNlY3JldCB0b2tlbg==", "dGhpcyBpcyBhIHNlY3JldCB0b2tlbg=="),
    ],
)
def test_gist_drops_whatever_is_shaped_like_a_credential(text: str, planted: str) -> None:
    out = gist(text)
    assert planted not in out, out
    assert "***" in out


@pytest.mark.parametrize(
    "shown",
    [
        json.dumps(f"wrong password {PASSWORD}").replace("/", "\\/"),
        f"we got {base64.b64encode(PASSWORD.encode()).decode()}",
        f"we got {PASSWORD[:8]}\n{PASSWORD[8:]}",
        f"WE GOT {PASSWORD.upper()}",
    ],
)
def test_gist_masks_the_password_the_page_re_encoded(shown: str) -> None:
    out = gist(shown, REDACTOR)
    assert found_in(out, PASSWORD) == [], out


def test_gist_strips_what_would_act_on_a_terminal() -> None:
    out = gist("\x1b[2J\x1b]8;;http://evil/\x07click\x1b]8;;\x07 bad\r\x9b31m \u202eexe.txt")
    for control in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
        assert control not in out


def test_gist_joins_lines_and_cuts_to_the_limit() -> None:
    assert gist("a\n\n  b   c \n", limit=4) == "a | "
    assert gist("a\n\n  b   c \n") == "a | b c"


# -- URLs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://idp/interaction/3_8lP_wB0Tl4n9k9CgxkX8W-CSxo1FVmnRbrO3VpQrD/login",
            "https://idp/interaction/***/login",
        ),
        (
            "https://hub/hub/login?next=/x%3Fcode%3Dabc123",
            "https://hub/hub/login?next=/x%3Fcode%3D***",
        ),
        ("https://hub/hub/login?next=%2Fhub%2Fhome", "https://hub/hub/login?next=/hub/home"),
        ("https://cas/login?ticket=ST-1-abc", "https://cas/login?ticket=***"),
        ("https://hub/user/alice-2024/lab", "https://hub/user/alice-2024/lab"),
    ],
)
def test_redact_url_masks_tokens_in_the_path_and_a_next_urls_own_query(
    url: str, expected: str
) -> None:
    assert redact_url(url) == expected


def test_mask_unknown_redacts_urls_inside_text() -> None:
    text = "go to https://idp/cb?code=abc123&error=x, then come back."
    assert mask_unknown(text) == "go to https://idp/cb?code=***&error=x, then come back."


# -- page.html ---------------------------------------------------------------------------------
HOSTILE_HTML = f"""<!DOCTYPE html><html><head>
<meta name="csrf-token" content="meta-csrf-9f8e7d">
<script>var accessToken = "script-token-1a2b3c"; var pw = "{PASSWORD}";</script>
<style>.x {{ background: url(/img?sig=style-sig-0a1b) }}</style></head>
<body class="login" data-session="data-attr-5e6f7a">
<!-- debug: session=comment-sess-3c4d -->
<h1 id="title">Sign in</h1>
<form method="post" action="/login?state=form-state-7a8b">
<input type="hidden" name="_xsrf" value="2|xsrf-value|1234">
<input type="text" name="user" value="student">
<input type="submit" value="Sign in">
<button name="stay" value="no">No</button>
<textarea>id_token: textarea-jwt-eyJhbGciOi</textarea>
</form>
<a href="https://hub/cb?code=link-code-4d5e&amp;error=access_denied">back</a>
<p onclick="steal('onclick-5f6a')">Your ticket: ST-99-text-ticket-6b7c8d9e</p>
<p>Wrong password {PASSWORD[:6]}<b>{PASSWORD[6:]}</b></p>
</body></html>"""
PLANTED_IN_HTML = (
    "meta-csrf-9f8e7d",
    "script-token-1a2b3c",
    "style-sig-0a1b",
    "data-attr-5e6f7a",
    "comment-sess-3c4d",
    "form-state-7a8b",
    "xsrf-value",
    "student",
    "textarea-jwt",
    "link-code-4d5e",
    "onclick-5f6a",
    "text-ticket-6b7c8d9e",
)


def test_page_html_keeps_only_what_is_known_to_be_harmless() -> None:
    out = SCRUB.html(HOSTILE_HTML)
    for planted in PLANTED_IN_HTML:
        assert planted not in out, planted
    assert found_in(out, PASSWORD) == []
    # What makes the page readable as evidence stays.
    for kept in (
        '<h1 id="title">Sign in</h1>',
        'name="_xsrf"',
        '<input type="submit" value="Sign in">',
        'value="no"',
        "error=access_denied",
        'class="login"',
        "<!DOCTYPE html>",
    ):
        assert kept in out, kept


def test_checkbox_and_button_values_stay() -> None:
    page = '<input type="submit" value="Sign in"><input type="checkbox" value="on">'
    assert SCRUB.html(page) == page


# -- the trace ------------------------------------------------------------------------------------
def test_trace_snapshots_network_and_logs_follow_the_same_rules() -> None:
    snapshot = [
        "HTML",
        {},
        ["SCRIPT", {}, "var t = 'snap-script-11aa22bb';"],
        ["META", {"name": "csrf", "content": "snap-meta-33cc"}],
        ["TEXTAREA", {"__playwright_value_": "snap-area-44dd"}, "snap-area-44dd"],
        ["A", {"href": "/cb?code=snap-href-55ee&error=x"}, "link"],
        ["P", {"data-sid": "snap-data-66ff"}, "ticket=snap-text-77aa"],
        [[1, 2]],
    ]
    trace = event_lines(
        {"type": "frame-snapshot", "snapshot": {"callId": "c@1", "html": snapshot}},
        {"type": "log", "callId": "c@2", "message": 'navigated to "https://idp/x?sid=log-88bb"'},
        {
            "type": "after",
            "callId": "c@3",
            "result": {"value": "<p>ok</p><script>res-99cc</script>"},
        },
    )
    network = event_lines(
        {
            "type": "resource-snapshot",
            "snapshot": {
                "request": {
                    "url": "https://idp/a/0a1b2c3d4e5f60718293a4b5c6d7e8f9/x?SAMLart=net-aa11",
                    "queryString": [
                        {"name": "SAMLart", "value": "net-aa11"},
                        {"name": "error", "value": "access_denied"},
                    ],
                    "headers": [
                        {"name": "Referer", "value": "https://hub/?ticket=ref-bb22"},
                        {"name": "X-Debug", "value": "plainwords hdr-cc44"},
                        {"name": "Content-Type", "value": "text/html"},
                    ],
                },
                "response": {"content": {"_sha1": "0123456789abcdef0123456789abcdef01234567.html"}},
            },
        }
    )
    raw = trace_zip(
        {
            "trace.trace": trace,
            "trace.network": network,
            "resources/0123456789abcdef0123456789abcdef01234567.html": b"<p>sid=res-html-cc33</p>",
            "resources/app.js": b"var token='res-js-dd44';",
            "resources/data.json": b'{"session_token": "res-json-ee55"}',
        }
    )
    clean, report = scrub_trace(raw, SCRUB)
    z = zipfile.ZipFile(io.BytesIO(clean))
    assert "resources/app.js" in report.dropped
    everything = b"\n".join(z.read(n) for n in z.namelist()).decode()
    for planted in (
        "snap-script",
        "snap-meta",
        "snap-area",
        "snap-href",
        "snap-data",
        "snap-text",
        "log-88bb",
        "res-99cc",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "net-aa11",
        "ref-bb22",
        "hdr-cc44",
        "res-html",
        "res-js",
        "res-json",
    ):
        assert planted not in everything, planted
    # The ids and hashes that link the trace's parts stay intact.
    assert "0123456789abcdef0123456789abcdef01234567.html" in everything
    assert '"callId": "c@1"' in everything and "[[1, 2]]" in everything
    network_out = json.loads(z.read("trace.network"))["snapshot"]["request"]
    assert network_out["queryString"][1] == {"name": "error", "value": "access_denied"}
    # Headers: names stay, values only for ordinary ones.
    assert network_out["headers"][1:] == [
        {"name": "X-Debug", "value": "***"},
        {"name": "Content-Type", "value": "text/html"},
    ]
