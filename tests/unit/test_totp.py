"""TOTP: codes from the seed, and what a clock too far off the IdP's means."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import struct
from types import MappingProxyType

import pytest

from loginprobe.flows import FlowContext, LoginRejected, ProbeProblem
from loginprobe.prober import totp

SEED = "JBSWY3DPEHPK3PXP"  # RFC 6238-style base32 seed


def ctx(
    seed: str | None,
    skew: float | None,
    seen: list[str] | None = None,
    time_left: float = float("inf"),
) -> FlowContext:
    async def left() -> None:
        return None

    return FlowContext(
        username="u",
        password="p",
        begin_step=lambda name: None,
        left_idp=left,
        has_left_idp=lambda: False,
        totp_secret=seed,
        options=MappingProxyType({}),
        clock_skew=lambda: skew,
        on_code=(seen.append if seen is not None else (lambda code: None)),
        time_left=lambda: time_left,
    )


def _rfc4226(seed: str, at: int) -> str:
    key = base64.b32decode(seed)
    digest = hmac.new(key, struct.pack(">Q", at // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**6:06d}"


def test_code_is_rfc_6238_for_the_rfc_test_vector() -> None:
    # RFC 6238 appendix B: ASCII seed "12345678901234567890", T=59 -> 94287082 (8 digits).
    assert totp.code("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", at=59) == "287082"


def test_80_bit_seeds_as_github_and_google_issue_them_work() -> None:
    assert totp.code(SEED, at=1_800_000_000) == _rfc4226(SEED, 1_800_000_000)
    assert totp.code("jbsw y3dp ehpk 3pxp", at=59) == _rfc4226(SEED, 59)  # as apps show it


def test_a_seed_that_is_not_base32_is_a_probe_problem_not_a_crash() -> None:
    with pytest.raises(ProbeProblem, match="not a valid base32"):
        ctx("not-base32-!!", 0.0).totp_code()


def test_no_seed_but_asked_for_a_code_is_the_account_demanding_mfa() -> None:
    with pytest.raises(LoginRejected, match="no totp_secret_env"):
        ctx(None, 0.0).totp_code("GitHub")


@pytest.mark.parametrize("skew", [95.0, -300.0])
def test_clock_beyond_any_window_refuses_to_type_a_code(skew: float) -> None:
    with pytest.raises(ProbeProblem, match=r"clock is \d+s (behind|ahead of) the IdP's"):
        ctx(SEED, skew).totp_code()


def test_every_code_typed_is_reported_for_scrubbing() -> None:
    seen: list[str] = []
    code = ctx(SEED, 3.0, seen).totp_code()
    assert seen == [code] and len(code) == 6 and code.isdigit()


@pytest.mark.parametrize(
    ("skew", "kind"), [(40.0, ProbeProblem), (2.0, LoginRejected), (None, LoginRejected)]
)
def test_a_rejected_code_blames_the_clock_only_when_it_is_off(
    skew: float | None, kind: type[Exception]
) -> None:
    err = ctx(SEED, skew).code_rejected("Azure AD", "You didn't enter the expected code")
    assert type(err) is kind
    if kind is LoginRejected:
        assert "seed" in str(err)
    else:
        assert "NTP" in str(err)


def test_a_retry_that_cannot_wait_for_the_next_window_says_so_without_blaming_the_seed() -> None:
    c = ctx(SEED, 0.0, time_left=4.0)
    c.totp_code()
    with pytest.raises(LoginRejected, match="past this probe's timeout") as info:
        asyncio.run(c.totp_retry("GitHub", "Two-factor authentication failed."))
    assert "seed" not in str(info.value)


def test_a_retry_with_the_clock_off_blames_the_clock() -> None:
    c = ctx(SEED, 40.0)
    c.totp_code()
    with pytest.raises(ProbeProblem, match="NTP"):
        asyncio.run(c.totp_retry("Azure AD", "You didn't enter the expected code"))


def test_only_one_retry_then_the_seed_is_blamed() -> None:
    c = ctx(SEED, 0.0)
    c._totp.update(retried=1)  # the fresh code was typed and refused as well
    with pytest.raises(LoginRejected, match=r"next window too.*seed"):
        asyncio.run(c.totp_retry("Azure AD", "You didn't enter the expected code"))
