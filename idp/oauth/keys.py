"""Signing keys: the only module that touches private key material.

Each key is one file in the keys directory, `<kid>.json`:
`{"state": "active", "created_at": <unix time>, "jwk": {<private JWK>}}`. Every worker and
instance reads the same directory, so they all sign with the same key and publish the
same JWKS. States: `next` (published, not signing yet), `active` (signing), `retired`
(not published). The newest active key of an algorithm signs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, Key, KeySet, RSAKey

SUPPORTED_ALGS = ("RS256", "ES256")
PUBLISHED_STATES = ("next", "active")
RSA_KEY_BITS = 2048
RELOAD_CHECK_SECONDS = 10


class KeyError_(Exception):
    """A key file is missing, unreadable or of an unsupported kind."""


@dataclass(frozen=True)
class StoredKey:
    kid: str
    alg: str
    state: str
    created_at: float
    key: Key


def generate_key(keys_dir: str | Path, alg: str = "RS256", state: str = "active") -> str:
    """Create a private key file readable by its owner only; return its `kid`."""
    if alg not in SUPPORTED_ALGS:
        raise KeyError_(f"unsupported algorithm {alg!r}; choose one of {', '.join(SUPPORTED_ALGS)}")
    if alg == "RS256":
        key: Key = RSAKey.generate_key(RSA_KEY_BITS, private=True)
    else:
        key = ECKey.generate_key("P-256", private=True)
    kid = key.thumbprint()
    jwk = key.as_dict(private=True, kid=kid, alg=alg, use="sig")
    directory = Path(keys_dir)
    directory.mkdir(parents=True, exist_ok=True)
    document = {"state": state, "created_at": time.time(), "jwk": jwk}
    path = directory / f"{kid}.json"
    tmp = directory / f".{kid}.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)
    os.replace(tmp, path)
    return kid


def read_keys(keys_dir: str | Path) -> list[StoredKey]:
    """Read every key file in the directory, oldest first."""
    directory = Path(keys_dir)
    if not directory.is_dir():
        return []
    keys = []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text())
            jwk = document["jwk"]
            key = KeySet.import_key_set({"keys": [jwk]}).keys[0]
            keys.append(
                StoredKey(
                    kid=jwk["kid"],
                    alg=jwk["alg"],
                    state=document.get("state", "active"),
                    created_at=float(document.get("created_at", 0)),
                    key=key,
                )
            )
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise KeyError_(f"cannot read signing key {path.name}: {type(exc).__name__}") from exc
    return sorted(keys, key=lambda k: k.created_at)


class KeyRing:
    """The keys of one process, reloaded when the directory changes."""

    def __init__(self, keys_dir: str | Path) -> None:
        self.keys_dir = Path(keys_dir)
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._fingerprint: tuple = ()
        self.version = 0
        self._load()

    def _directory_fingerprint(self) -> tuple:
        if not self.keys_dir.is_dir():
            return ()
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in self.keys_dir.glob("*.json")))

    def _load(self) -> None:
        self._fingerprint = self._directory_fingerprint()
        self._keys = read_keys(self.keys_dir)
        self._signing = {}
        for stored in self._keys:
            if stored.state == "active":
                self._signing[stored.alg] = stored  # newest wins: the list is oldest first
        published = [k for k in self._keys if k.state in PUBLISHED_STATES]
        self._public_jwks = {
            "keys": [
                k.key.as_dict(private=False, kid=k.kid, alg=k.alg, use="sig") for k in published
            ]
        }
        self._verification = KeySet([k.key for k in published]) if published else None
        self.version += 1

    def refresh(self) -> None:
        """Reload if the directory changed; checked at most every few seconds."""
        current = time.monotonic()
        if current - self._checked_at < RELOAD_CHECK_SECONDS:
            return
        with self._lock:
            self._checked_at = current
            if self._directory_fingerprint() != self._fingerprint:
                self._load()

    @property
    def algorithms(self) -> list[str]:
        """Algorithms this server can sign with right now."""
        return [alg for alg in SUPPORTED_ALGS if alg in self._signing]

    def signing_key(self, alg: str = "RS256") -> StoredKey:
        """Return the newest active key for `alg`; raise KeyError_ when there is none."""
        stored = self._signing.get(alg)
        if stored is None:
            raise KeyError_(f"no active {alg} signing key in {self.keys_dir}")
        return stored

    def signing_keyset(self, alg: str = "RS256") -> KeySet:
        """A key set holding only the signing key, so joserfc writes its `kid`."""
        return KeySet([self.signing_key(alg).key])

    def public_jwks(self) -> dict[str, Any]:
        return self._public_jwks

    def verification_keyset(self) -> KeySet:
        if self._verification is None:
            raise KeyError_(f"no published keys in {self.keys_dir}")
        return self._verification
