"""redact: URLs lose secret query values, userinfo and fragments; Redactor scrubs known secrets."""

from __future__ import annotations

from typing import Any

import pytest

from loginprobe.redact import MASK, Redactor, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://hub.example.org/hub/oauth_callback?code=abc123&state=eyJzdGF0ZSI6MX0",
            "https://hub.example.org/hub/oauth_callback?code=***&state=***",
            id="code-and-state",
        ),
        pytest.param(
            "https://idp.example.org/auth?client_id=hub&code_challenge=E9Melhoa&"
            "code_challenge_method=S256&redirect_uri=https://hub.example.org/hub/oauth_callback",
            "https://idp.example.org/auth?client_id=hub&code_challenge=***&"
            "code_challenge_method=***&redirect_uri=https://hub.example.org/hub/oauth_callback",
            id="pkce-challenge",
        ),
        pytest.param(
            "https://hub.example.org/hub/oauth_callback?code=x&iss=https%3A%2F%2Fidp.example.org",
            "https://hub.example.org/hub/oauth_callback?code=***&iss=***",
            id="iss",
        ),
        pytest.param(
            "https://hub.example.org/hub/api?token=deadbeefcafe",
            "https://hub.example.org/hub/api?token=***",
            id="token",
        ),
        pytest.param("http://user:pw@host/", "http://host/", id="userinfo"),
        pytest.param(
            "https://alice:s3cret@hub.example.org:8443/hub/login?next=/hub/home",
            "https://hub.example.org:8443/hub/login?next=/hub/home",
            id="userinfo-with-port-keeps-next",
        ),
        pytest.param(
            "https://hub.example.org/hub/#access_token=eyJhbGciOi&token_type=bearer",
            "https://hub.example.org/hub/",
            id="fragment-dropped",
        ),
        pytest.param(
            "https://hub.example.org/hub/oauth_callback?error=access_denied&"
            "error_description=The+user+denied+consent&state=xyz",
            "https://hub.example.org/hub/oauth_callback?error=access_denied&"
            "error_description=The+user+denied+consent&state=***",
            id="keeps-error-and-description",
        ),
        pytest.param(
            "http://[::1]:8000/hub/login?code=1",
            "http://[::1]:8000/hub/login?code=***",
            id="ipv6",
        ),
        pytest.param(
            "https://hub.example.org/hub/home", "https://hub.example.org/hub/home", id="no-query"
        ),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_never_leaks_masked_values() -> None:
    url = "https://u:topsecretpw@hub.example.org/cb?code=SECRETCODE&state=SECRETSTATE#SECRETFRAG"
    out = redact_url(url)
    for secret in ("topsecretpw", "SECRETCODE", "SECRETSTATE", "SECRETFRAG", "u:"):
        assert secret not in out


def test_unparseable_url_becomes_a_placeholder() -> None:
    assert redact_url("http://[::1") == "<unparseable url>"


@pytest.mark.parametrize(
    "url",
    [
        "http://hub.example.org:99999/cb?code=SECRETCODE",
        "http://hub.example.org:abc/cb?code=SECRETCODE",
    ],
    ids=["port-out-of-range", "port-not-a-number"],
)
def test_url_with_a_bad_port_is_redacted_not_raised(url: str) -> None:
    # redact_url is called on whatever URL a browser or an error carries; it must never raise.
    out = redact_url(url)
    assert "SECRETCODE" not in out


# -- Redactor -------------------------------------------------------------------------------------
def test_redactor_masks_secrets_in_nested_data() -> None:
    r = Redactor(["hunter22", "client-secret-value"])
    data: dict[str, Any] = {
        "detail": "login as bob with hunter22",
        "steps": [{"url": "https://x/?p=hunter22"}, ("client-secret-value", 3)],
        "n": 5,
        "none": None,
    }
    assert r.data(data) == {
        "detail": f"login as bob with {MASK}",
        "steps": [{"url": f"https://x/?p={MASK}"}, [MASK, 3]],
        "n": 5,
        "none": None,
    }


def test_redactor_masks_every_occurrence_in_a_string() -> None:
    assert Redactor(["abcd"]).text("abcd-abcd") == f"{MASK}-{MASK}"


def test_redactor_masks_the_longest_secret_first() -> None:
    r = Redactor(["pass", "password123"])
    assert r.text("it is password123") == f"it is {MASK}"


def test_redactor_ignores_values_shorter_than_four_chars() -> None:
    r = Redactor(["abc", "", "x"])
    assert r.text("abc x is fine") == "abc x is fine"
    assert Redactor(["abcd"]).text("abcd") == MASK


def test_redactor_extend_adds_secrets_and_keeps_old_ones() -> None:
    r = Redactor(["first-secret"]).extend(["second-secret"])
    assert r.text("first-secret second-secret") == f"{MASK} {MASK}"


def test_redactor_is_a_structlog_processor() -> None:
    r = Redactor(["hunter22"])
    event = {
        "event": "login failed for hunter22",
        "form": {"password": "hunter22"},
        "attempt": 2,
    }
    assert r(None, "info", event) == {
        "event": f"login failed for {MASK}",
        "form": {"password": MASK},
        "attempt": 2,
    }


def test_redactor_processor_scrubs_exceptions_as_text() -> None:
    r = Redactor(["hunter22"])
    out = r(None, "error", {"event": "boom", "exc": ValueError("bad password hunter22")})
    assert out["exc"] == f"ValueError('bad password {MASK}')"


def test_empty_redactor_changes_nothing() -> None:
    assert Redactor().data({"a": ["b", "c"]}) == {"a": ["b", "c"]}
