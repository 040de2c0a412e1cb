"""docs/verdicts.md: one section per verdict code, each with an anchor PagerDuty can link to, and
example summaries that are what classify.py (and expiry.py) really say."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from loginprobe.model import Code, Failure, FailureKind, Observation, SecretCheck, Severity, Step
from loginprobe.monitor.tracks.expiry import expiry_notice, tls_notice
from loginprobe.prober.classify import SEVERITY, classify

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "verdicts.md"
HUB = "utoronto"
HUB_URL = "https://hub.example.org"
CALLBACK = f"{HUB_URL}/hub/oauth_callback?code=***&state=***"
NOW = datetime(2027, 8, 18, 5, 0, tzinfo=UTC)

EXPIRED = SecretCheck(
    "expired",
    401,
    "invalid_client",
    "AADSTS7000222: The provided client secret keys for app 'hub' are expired.",
    "the token endpoint says the client secret has expired (AADSTS7000222)",
)
INVALID = SecretCheck(
    "invalid",
    401,
    "invalid_client",
    "AADSTS7000215: Invalid client secret provided.",
    "the token endpoint rejects the client credentials",
)
VALID = SecretCheck(
    "valid",
    400,
    "invalid_grant",
    "grant request is invalid",
    "the token endpoint accepts the client credentials (it only rejected the deliberately "
    "invalid code)",
)

# Expiry warnings are not login verdicts (model.Code) but PagerDuty classes of their own.
SECRET_NOTICE = expiry_notice(HUB, date(2027, 9, 1), NOW)
TLS_NOTICE = tls_notice(HUB, "hub.example.org", datetime(2027, 8, 25, tzinfo=UTC), NOW)
assert SECRET_NOTICE is not None and TLS_NOTICE is not None
EXPIRY_CLASSES = {n.code.partition(":")[0]: n for n in (SECRET_NOTICE, TLS_NOTICE)}


def _obs(failure: Failure | None, check: SecretCheck | None = None) -> Observation:
    steps = (Step("hub_start", "ok", 200, f"{HUB_URL}/hub/login", 240),)
    if failure is None:
        steps += (Step("hub_landing", "ok", 200, f"{HUB_URL}/hub/home", 1160),)
    return Observation(HUB, steps, failure, check, HUB_URL)


def _http(step: str, status: int, url: str) -> Failure:
    return Failure(FailureKind.HTTP, step, "", status, url)


# One or more observations per code, as a real probe would record them.
EXAMPLES: list[Observation] = [
    _obs(None),
    _obs(None, INVALID),  # ok, but the secret check is misconfigured
    _obs(
        Failure(FailureKind.NETWORK, "hub_start", "net::ERR_NAME_NOT_RESOLVED", url=HUB_URL),
    ),
    _obs(_http("hub_login", 500, f"{HUB_URL}/hub/oauth_login?next=%2Fhub%2F")),
    _obs(
        Failure(
            FailureKind.NETWORK,
            "idp_page",
            "net::ERR_CONNECTION_REFUSED",
            url="https://login.example.org/authorize",
            where="idp",
        )
    ),
    _obs(
        Failure(
            FailureKind.IDP_ERROR,
            "idp_page",
            "IdP error page: The redirect URI specified in the request does not match",
            url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            code="AADSTS50011",
            where="idp",
        )
    ),
    _obs(
        Failure(
            FailureKind.LOGIN_REJECTED,
            "idp_login",
            "the IdP rejected the test account: Invalid username or password.",
            where="idp",
        )
    ),
    _obs(_http("oauth_callback", 500, CALLBACK), VALID),
    _obs(_http("oauth_callback", 500, CALLBACK)),
    _obs(_http("oauth_callback", 500, CALLBACK), EXPIRED),
    _obs(_http("oauth_callback", 500, CALLBACK), INVALID),
    _obs(_http("oauth_callback", 403, CALLBACK)),
    _obs(
        Failure(
            FailureKind.FLOW_CHANGED,
            "idp_login",
            "no login form, button or known page at https://login.example.org/u/login "
            "(set [hubs.NAME.selectors] if the IdP's page is unusual)",
            where="idp",
        )
    ),
    _obs(Failure(FailureKind.TIMEOUT, "idp_page", "no answer within 45s", where="idp")),
    _obs(
        Failure(
            FailureKind.PROBE_ERROR,
            "prober",
            "BrowserGone: the browser died during the probe",
            where="prober",
        )
    ),
]


def _sections() -> dict[str, str]:
    """`## code` heading (GitHub's anchor: #code) -> the section's text."""
    parts = re.split(r"^## (\S+)\n", DOC.read_text(encoding="utf-8"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_verdict_code_has_a_section_and_every_section_a_code() -> None:
    expected = {str(c) for c in Code} | set(EXPIRY_CLASSES)
    headings = list(_sections())
    assert len(headings) == len(set(headings)), "a code has two sections"
    assert set(headings) == expected


def test_the_examples_cover_every_code() -> None:
    assert {classify(o).code for o in EXAMPLES} == set(Code)


def test_each_sections_example_summary_is_what_classify_says() -> None:
    sections = _sections()
    for obs in EXAMPLES:
        verdict = classify(obs)
        assert verdict.summary in sections[verdict.code], (
            f"docs/verdicts.md#{verdict.code} lacks the summary classify.py gives:\n"
            f"{verdict.summary}"
        )
    for name, notice in EXPIRY_CLASSES.items():
        assert notice.summary in sections[name], f"docs/verdicts.md#{name}: {notice.summary}"


def test_each_section_says_what_to_check_first_and_whether_it_pages() -> None:
    for code, text in _sections().items():
        assert "**Check first**" in text, code
        assert "**Pages**" in text, code


def test_what_a_section_says_about_paging_matches_the_severity() -> None:
    sections = _sections()
    for code in Code:
        line = next(ln for ln in sections[code].splitlines() if ln.startswith("**Pages**"))
        severity = SEVERITY.get(code, Severity.CRITICAL)
        if code is Code.OK:
            assert "never" in line
        else:
            assert f"severity `{severity}`" in line, (code, line)
