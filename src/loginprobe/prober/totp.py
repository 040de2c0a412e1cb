"""TOTP codes for test accounts with an authenticator-app MFA method (RFC 6238, via pyotp).

A code is valid for a 30-second step, and IdPs accept about one step either side. So when the
prober's clock and the IdP's disagree by more than that, every code is wrong: that is the prober's
problem (fix NTP), never the hub's or the account's.
"""

from __future__ import annotations

import pyotp

STEP = 30
# From here a rejected code is more likely our clock than the seed.
SUSPECT_SKEW = 15.0
# From here no code we compute can be accepted: don't type one (it counts towards a lockout).
UNUSABLE_SKEW = 90.0


class _Totp(pyotp.TOTP):
    # The IdP chose the seed, not us: GitHub and Google issue 80-bit seeds (16 base32 letters),
    # which pyotp >= 2.10 refuses by default (NIST's 112-bit minimum for new secrets).
    min_secret_length_bits = 80


def code(seed: str, at: float | None = None) -> str:
    """The code for `at` (default now). ValueError if the seed is not base32."""
    try:
        totp = _Totp(seed.replace(" ", "").upper())
        return totp.at(int(at)) if at is not None else totp.now()
    except (ValueError, TypeError) as err:  # binascii.Error is a ValueError
        raise ValueError("not a base32 TOTP seed") from err


def skew_message(skew: float) -> str:
    direction = "behind" if skew > 0 else "ahead of"
    return (
        f"this prober's clock is {abs(skew):.0f}s {direction} the IdP's (from its Date header): "
        f"TOTP codes computed here are wrong — fix the prober's time sync (NTP); "
        "not a hub or account problem"
    )
