"""Password policy: NIST SP 800-63B length limits and the shipped common-password list."""

from __future__ import annotations

import gzip
import secrets
from importlib import resources

import pytest

from idp.services import passwords, users
from idp.services.passwords import check_password

EMAIL = "ada@example.com"


def shipped_lines() -> list[str]:
    path = resources.files("idp").joinpath(passwords.COMMON_PASSWORDS_FILE)
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        return text.read().splitlines()


def test_the_shipped_list_holds_the_100000_most_common_passwords():
    lines = shipped_lines()
    assert len(lines) >= 100_000
    assert lines[:3] == ["123456", "password", "12345678"]  # most common first
    listed = passwords.common_passwords()
    assert all(line.strip().casefold() in listed for line in lines)


def test_the_list_is_loaded_once():
    assert passwords.common_passwords() is passwords.common_passwords()


def test_limits_match_account_creation():
    assert (passwords.MIN_PASSWORD_LENGTH, passwords.MAX_PASSWORD_LENGTH) == (8, 128)
    assert passwords.MAX_PASSWORD_LENGTH == users.MAX_PASSWORD_LENGTH


def test_a_password_shorter_than_8_characters_is_refused():
    assert "at least 8" in check_password("x7#kQ2v", EMAIL)


def test_a_password_longer_than_128_characters_is_refused():
    assert "at most 128" in check_password("x7#kQ2vZ" * 16 + "!", EMAIL)  # 129


def test_8_and_128_characters_are_accepted():
    assert check_password("x7#kQ2vZ", EMAIL) is None
    assert check_password(secrets.token_urlsafe(96), EMAIL) is None  # 128 characters


@pytest.mark.parametrize("candidate", [EMAIL, "Ada@Example.COM", " ada@example.com "])
def test_the_email_address_is_refused_in_any_case(candidate):
    assert "email" in check_password(candidate, EMAIL)


@pytest.mark.parametrize(
    "common", ["password1", "qwerty123", "Password1", "PASSWORD1 ", "iloveyou1"]
)
def test_a_common_password_is_refused_in_any_case(common):
    assert "common" in check_password(common, EMAIL)


@pytest.mark.parametrize(
    "strong",
    [
        secrets.token_urlsafe(16),
        "correct horse battery staple",
        "pässwörd ünd émoji 🦜🦜",  # any characters, counted as characters, not bytes
        "        spaces  count",
    ],
    ids=["random", "passphrase", "unicode", "spaces"],  # the same ids in every xdist worker
)
def test_a_strong_password_is_accepted_without_composition_rules(strong):
    assert check_password(strong, EMAIL) is None


def test_length_counts_characters_not_bytes():
    assert check_password("ü" * 7, EMAIL) is not None
    assert check_password("🦜" * 8, EMAIL) is None
