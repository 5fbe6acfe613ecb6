"""TOTP (RFC 6238) and recovery codes as pure functions; callers store what they return.

Time comes in as `now` (Unix seconds, from idp.clock) so tests can move it. A code is
accepted for the current 30 s step or one step either side (clock drift), and never for a
step at or before the last one accepted for the user, so a code cannot be used twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import SecretDecryptionError

STEP_SECONDS = 30
DIGITS = 6
WINDOW_STEPS = 1
SECRET_BASE32_CHARS = 32  # 160 bits, the HMAC-SHA1 key size RFC 4226 §4 recommends
RECOVERY_CODE_COUNT = 10
# Crockford's base32: no i, l, o or u, so a code read aloud or copied by hand survives.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_GROUPS, RECOVERY_GROUP_CHARS = 3, 4  # xxxx-xxxx-xxxx: 12 x 5 = 60 bits
_CONFUSABLE = str.maketrans({"o": "0", "i": "1", "l": "1"})
CIPHERTEXT_VERSION = "v1"  # v1: AES-256-GCM, 96-bit random nonce, HKDF-SHA256 key
_HKDF_INFO = b"idp totp secret v1"
_NONCE_BYTES = 12


def new_secret() -> str:
    """Return a random base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(SECRET_BASE32_CHARS)


def provisioning_uri(secret: str, email: str, issuer_name: str) -> str:
    """Return the otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=issuer_name
    )


def qr_svg(uri: str) -> str:
    """Return `uri` as a QR code in inline SVG markup, made locally (no external service)."""
    # segno writes only <svg>, <title> (escaped) and one <path>; no script, link or image.
    return segno.make(uri, error="m").svg_inline(
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        svgclass="totp-qr",
        title="QR code for your authenticator app",
    )


def verify(secret: str, code: str, last_step: int | None, now: float) -> int | None:
    """Return the time step `code` is valid for, or None when it is wrong, outside the
    window or not newer than `last_step` (already used)."""
    code = "".join(code.split())
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    accepted = None
    # Every step in the window is computed and compared, so timing does not tell which matched.
    for step in range(max(current - WINDOW_STEPS, 0), current + WINDOW_STEPS + 1):
        fresh = last_step is None or step > last_step
        if hmac.compare_digest(otp.generate_otp(step), code) and fresh and accepted is None:
            accepted = step
    return accepted


def _aead(key: str | bytes) -> AESGCM:
    material = key.encode() if isinstance(key, str) else key
    if not material:
        raise ValueError("an encryption key is required")
    return AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=_HKDF_INFO).derive(material))


def encrypt_secret(secret: str, key: str | bytes, associated_data: str = "") -> str:
    """Seal a TOTP secret for storage as "v1.<base64url(nonce | ciphertext | tag)>".

    `key` is the configured secret the AES key is derived from (HKDF). `associated_data`
    (e.g. the user id) must be given again to decrypt, so a sealed secret copied to
    another row does not open there.
    """
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _aead(key).encrypt(nonce, secret.encode(), associated_data.encode())
    return f"{CIPHERTEXT_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt_secret(token: str, key: str | bytes, associated_data: str = "") -> str:
    """Open what encrypt_secret sealed; raise SecretDecryptionError if it cannot."""
    version, _, body = token.partition(".")
    if version != CIPHERTEXT_VERSION:
        raise SecretDecryptionError("unknown TOTP secret format")
    try:
        raw = base64.urlsafe_b64decode(body.encode())
        plain = _aead(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated_data.encode())
    except (binascii.Error, InvalidTag, ValueError):
        raise SecretDecryptionError("the TOTP secret cannot be decrypted") from None
    return plain.decode()


def new_recovery_codes(n: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Return `n` distinct random recovery codes like "7k2m-q9xd-h3vc" (60 bits each)."""
    codes: dict[str, None] = {}  # ordered, and a (vanishingly rare) repeat is drawn again
    while len(codes) < n:
        groups = (
            "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_CHARS))
            for _ in range(RECOVERY_GROUPS)
        )
        codes["-".join(groups)] = None
    return list(codes)


def normalise_recovery_code(code: str) -> str:
    """Drop spaces and dashes, lower-case, and read o as 0 and i or l as 1."""
    return "".join(c for c in code.lower() if c not in " -\t\r\n").translate(_CONFUSABLE)


def hash_recovery_code(code: str) -> str:
    """Return the hex SHA-256 to store; plain SHA-256 suffices for 60 random bits."""
    return hashlib.sha256(normalise_recovery_code(code).encode()).hexdigest()


def recovery_code_matches(code: str, code_hash: str) -> bool:
    """Compare a typed code with a stored hash in constant time."""
    return hmac.compare_digest(hash_recovery_code(code), code_hash)


def find_recovery_code(code: str, code_hashes: Iterable[str]) -> str | None:
    """Return the stored hash `code` matches, or None; every hash is compared."""
    found = None
    for code_hash in code_hashes:
        if recovery_code_matches(code, code_hash) and found is None:
            found = code_hash
    return found
