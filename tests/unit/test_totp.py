"""TOTP codes, the encrypted secret and recovery codes."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from idp.services import totp

# RFC 6238 Appendix B: the SHA-1 key "12345678901234567890"; at T=59 the 8-digit code is
# 94287082, at T=1111111109 it is 07081804 (6 digits: the last six).
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
NOW = 1_700_000_000.0
KEY = "a configured secret of reasonable length, 32+"


def code_at(secret: str, step: int) -> str:
    """What an authenticator app shows during `step`."""
    return pyotp.TOTP(secret).generate_otp(step)


@pytest.fixture
def secret():
    return totp.new_secret()


def test_rfc_6238_test_vectors_are_accepted():
    assert totp.verify(RFC_SECRET, "287082", None, 59) == 1
    assert totp.verify(RFC_SECRET, "081804", None, 1111111109) == 1111111109 // 30


def test_the_current_code_is_accepted_once(secret):
    step = int(NOW // 30)
    code = code_at(secret, step)
    assert totp.verify(secret, code, None, NOW) == step
    assert totp.verify(secret, code, step, NOW) is None  # replay
    assert totp.verify(secret, code, step, NOW + 20) is None  # still refused a step later


def test_one_step_of_drift_either_way_is_accepted(secret):
    step = int(NOW // 30)
    assert totp.verify(secret, code_at(secret, step - 1), None, NOW) == step - 1
    assert totp.verify(secret, code_at(secret, step + 1), None, NOW) == step + 1


def test_two_steps_of_drift_are_refused(secret):
    step = int(NOW // 30)
    assert totp.verify(secret, code_at(secret, step - 2), None, NOW) is None
    assert totp.verify(secret, code_at(secret, step + 2), None, NOW) is None


def test_a_code_older_than_the_last_accepted_one_is_refused(secret):
    step = int(NOW // 30)
    # A code from the next step was used (a fast phone clock): the current one is stale now.
    assert totp.verify(secret, code_at(secret, step), step + 1, NOW) is None
    assert totp.verify(secret, code_at(secret, step + 1), step, NOW) == step + 1


def test_spaces_are_ignored_and_malformed_codes_refused(secret):
    step = int(NOW // 30)
    code = code_at(secret, step)
    assert totp.verify(secret, f"{code[:3]} {code[3:]}", None, NOW) == step
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", code + "0"):
        assert totp.verify(secret, bad, None, NOW) is None


def test_secrets_are_random_160_bit_base32():
    first, second = totp.new_secret(), totp.new_secret()
    assert first != second
    assert len(base64.b32decode(first)) == 20


def test_provisioning_uri_names_issuer_account_and_secret(secret):
    uri = totp.provisioning_uri(secret, "ada@example.com", issuer_name="idp")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/idp:ada@example.com"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret] and query["issuer"] == ["idp"]


def test_the_qr_code_is_inline_svg_with_nothing_external(secret):
    svg = totp.qr_svg(totp.provisioning_uri(secret, "ada@example.com", issuer_name="idp"))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<title>" in svg
    for forbidden in ("<?xml", "<script", "<image", "href", "http", "style="):
        assert forbidden not in svg


def test_an_encrypted_secret_round_trips_and_hides_the_secret(secret):
    sealed = totp.encrypt_secret(secret, KEY)
    assert sealed.startswith("v1.") and secret not in sealed
    assert totp.decrypt_secret(sealed, KEY) == secret
    assert totp.encrypt_secret(secret, KEY) != sealed  # fresh nonce each time


def test_a_tampered_ciphertext_is_refused(secret):
    sealed = totp.encrypt_secret(secret, KEY)
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    raw[-1] ^= 1
    tampered = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(totp.SecretDecryptionError):
        totp.decrypt_secret(tampered, KEY)


@pytest.mark.parametrize(
    "attempt",
    [
        lambda sealed: totp.decrypt_secret(sealed, "another key"),
        lambda sealed: totp.decrypt_secret(sealed, KEY, associated_data="user-2"),
        lambda sealed: totp.decrypt_secret("v2" + sealed[2:], KEY),
        lambda sealed: totp.decrypt_secret("v1.not base64!", KEY),
        lambda sealed: totp.decrypt_secret("v1.", KEY),
    ],
)
def test_a_wrong_key_context_version_or_format_is_refused(secret, attempt):
    sealed = totp.encrypt_secret(secret, KEY, associated_data="user-1")
    assert totp.decrypt_secret(sealed, KEY, associated_data="user-1") == secret
    with pytest.raises(totp.SecretDecryptionError):
        attempt(sealed)


def test_ten_distinct_recovery_codes_of_60_bits():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    group = f"[{re.escape(totp.RECOVERY_ALPHABET)}]{{4}}"
    assert all(re.fullmatch(f"{group}-{group}-{group}", code) for code in codes)
    assert len(totp.RECOVERY_ALPHABET) == 32  # 12 characters x 5 bits = 60 bits
    assert set(codes).isdisjoint(totp.new_recovery_codes())


def test_a_recovery_code_matches_its_hash_however_it_is_typed():
    code = "0k1m-q9xd-h3vc"
    stored = totp.hash_recovery_code(code)
    assert re.fullmatch(r"[0-9a-f]{64}", stored) and code not in stored
    for typed in (code, "0K1M-Q9XD-H3VC", "0k1m q9xd h3vc ", "ok1mq9xdh3vc", "0klmq9xdh3vc"):
        assert totp.recovery_code_matches(typed, stored)
    assert not totp.recovery_code_matches("0k1m-q9xd-h3vd", stored)


def test_find_recovery_code_returns_the_matching_hash():
    codes = totp.new_recovery_codes(3)
    hashes = [totp.hash_recovery_code(c) for c in codes]
    assert totp.find_recovery_code(codes[1].upper(), hashes) == hashes[1]
    assert totp.find_recovery_code("zzzz-zzzz-zzzz", hashes) is None
    assert totp.find_recovery_code("123456", []) is None
