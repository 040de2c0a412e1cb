"""Which of an app's password credentials is the hub's: the one whose hint matches its secret."""

from __future__ import annotations

from datetime import datetime

from loginprobe.prober.graph import pick_expiry


def cred(hint: str, end: str) -> dict[str, object]:
    return {"hint": hint, "endDateTime": end, "keyId": "k", "secretText": None}


def test_the_matching_hint_wins_and_the_earlier_of_two_is_taken() -> None:
    body = {
        "passwordCredentials": [
            cred("Q~x", "2027-09-01T00:00:00Z"),
            cred("abc", "2026-12-01T00:00:00Z"),
            cred("Q~x", "2027-03-01T00:00:00Z"),
        ]
    }
    found = pick_expiry(body, "Q~x-the-secret")
    assert found.end == datetime.fromisoformat("2027-03-01T00:00:00+00:00")


def test_no_matching_hint_says_the_secret_may_have_been_rotated() -> None:
    found = pick_expiry({"passwordCredentials": [cred("abc", "2027-01-01T00:00:00Z")]}, "xyz1")
    assert found.end is None and found.error is not None and "rotated" in found.error


def test_malformed_dates_and_bodies_are_errors() -> None:
    assert pick_expiry([], "xyz").error == "malformed Graph answer: no passwordCredentials list"
    bad = pick_expiry({"passwordCredentials": [cred("xyz", "next tuesday")]}, "xyz1")
    assert bad.error is not None and bad.error.startswith("malformed Graph answer: endDateTime")
