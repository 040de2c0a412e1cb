"""The password never enters the browser: the stand-in a flow types, and the request body that
leaves with the real password in its place."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import pytest

from loginprobe.prober.standin import PasswordStandIn, stand_in_for, swap

PASSWORD = 'p&ss w"rd/é+9'


def test_the_stand_in_is_random_hex_of_the_passwords_length() -> None:
    a, b = stand_in_for(PASSWORD), stand_in_for(PASSWORD)
    assert len(a) == len(PASSWORD) and re.fullmatch(r"[0-9a-f]+", a)
    assert a != b


def test_a_form_body_gets_the_password_form_encoded() -> None:
    fake = stand_in_for(PASSWORD)
    body = f"user=student&pw={fake}".encode()
    new = swap(body, "application/x-www-form-urlencoded", fake, PASSWORD)
    assert new is not None
    assert parse_qs(new.decode())["pw"] == [PASSWORD]


def test_a_json_body_gets_the_password_json_escaped() -> None:
    fake = stand_in_for(PASSWORD)
    body = json.dumps({"username": "student", "password": fake}).encode()
    new = swap(body, "application/json; charset=utf-8", fake, PASSWORD)
    assert new is not None
    assert json.loads(new)["password"] == PASSWORD


def test_a_body_without_the_stand_in_is_left_alone() -> None:
    assert swap(b"q=search", "application/x-www-form-urlencoded", "abcdef12", PASSWORD) is None


@pytest.mark.parametrize("shown", [repr, str])
def test_the_stand_in_object_never_shows_the_password(shown: object) -> None:
    assert PASSWORD not in shown(PasswordStandIn(PASSWORD))  # type: ignore[operator]
