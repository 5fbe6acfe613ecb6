"""The refresh retry window: a lost response can be fetched again, never minted twice.

Within the window, the successor's full token response is kept in the short-lived store,
encrypted with a key derived (HKDF) from the presented refresh token, and bound to the
request's parameters as AES-GCM associated data. Nothing at rest can read or replay it
without the presented token; a retry with other parameters cannot open it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

KEY_PREFIX = "rt-retry:"
POLL_SECONDS = 0.02


def _key(presented: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"idp refresh retry v1").derive(
        presented.encode()
    )


def _store_key(presented: str) -> str:
    return KEY_PREFIX + hashlib.sha256(presented.encode()).hexdigest()


def fingerprint(client_id: str, scope: str | None) -> bytes:
    """What a retry must repeat to get the same answer."""
    return json.dumps([client_id, " ".join(sorted((scope or "").split()))]).encode()


def remember(presented: str, params: bytes, response: dict, ttl_seconds: int) -> None:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(presented)).encrypt(nonce, json.dumps(response).encode(), params)
    value = base64.b64encode(nonce + sealed).decode()
    current_app.extensions["idp.store"].put(_store_key(presented), value, ttl_seconds)


def recall(presented: str, params: bytes, wait_seconds: float) -> dict | None:
    """Return the remembered response, waiting briefly for a concurrent first request."""
    store = current_app.extensions["idp.store"]
    deadline = time.monotonic() + wait_seconds
    while True:
        value = store.get(_store_key(presented))
        if value is not None:
            raw = base64.b64decode(value)
            try:
                return json.loads(AESGCM(_key(presented)).decrypt(raw[:12], raw[12:], params))
            except InvalidTag:
                return None  # other parameters: not a retry
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)
