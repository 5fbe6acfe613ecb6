"""Signing keys: the only module that touches private key material.

Each key is one file in the keys directory, `<kid>.json`: `{"state": "active",
"created_at": <unix time>, "activated_at": ..., "retired_at": ..., "jwk": {<private JWK>}}`.
Every worker and instance reads the same directory, so they all sign with the same key and
publish the same JWKS. States (README.md, Administration, "Signing keys"):

- `next`: published, not signing yet. `rotate` promotes it only once it has been published
  longer than relying parties may cache JWKS, so they know it before it signs.
- `active`: signing; the most recently activated key of each algorithm signs.
- `retired`: no longer signing, still published until every token it signed can have
  expired (`retired_at` + the longest token lifetime + reload interval + clock leeway);
  then left out of JWKS, and `prune` (or the next `rotate`) deletes the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, Key, KeySet, RSAKey

from .. import clock
from ..config import ACCESS_TOKEN_TTL_SECONDS, ID_TOKEN_TTL_SECONDS, Config
from ..errors import KeyFileError

log = logging.getLogger("idp.security")

SUPPORTED_ALGS = ("RS256", "ES256")
STATES = ("next", "active", "retired")
RSA_KEY_BITS = 2048
RELOAD_CHECK_SECONDS = 10
CLOCK_LEEWAY_SECONDS = 60


def retired_ttl(token_ttl: int) -> int:
    """Seconds a retired key stays published: a token signed by a worker that has not yet
    reloaded (up to RELOAD_CHECK_SECONDS after retirement) must still verify until it expires."""
    return token_ttl + RELOAD_CHECK_SECONDS + CLOCK_LEEWAY_SECONDS


def config_retired_ttl(config: Config) -> int:
    """The retired-key publication time for the token lifetimes in `config`."""
    return retired_ttl(max(config.access_token_ttl, config.id_token_ttl))


def config_min_published(config: Config) -> int:
    """How long a `next` key must have been published before it may sign: JWKS caching."""
    return config.metadata_max_age + RELOAD_CHECK_SECONDS


@dataclass(frozen=True)
class StoredKey:
    kid: str
    alg: str
    state: str
    created_at: float
    key: Key
    activated_at: float | None = None
    retired_at: float | None = None

    def unpublish_at(self, ttl: int) -> float:
        """When the key leaves JWKS: never for `next` and `active` keys."""
        if self.state != "retired":
            return math.inf
        return (self.retired_at or self.created_at) + ttl

    def describe(self, ttl: int, now: float) -> dict[str, Any]:
        """The key's public facts for `idp keys list`."""
        data: dict[str, Any] = {
            "kid": self.kid,
            "alg": self.alg,
            "state": self.state,
            "published": now < self.unpublish_at(ttl),
            "created_at": _iso(self.created_at),
            "age_seconds": int(now - self.created_at),
        }
        if self.activated_at is not None:
            data["activated_at"] = _iso(self.activated_at)
        if self.retired_at is not None:
            data["retired_at"] = _iso(self.retired_at)
            data["unpublish_at"] = _iso(self.unpublish_at(ttl))
        return data


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _write_document(directory: Path, kid: str, document: dict) -> None:
    """Replace `<kid>.json` atomically, readable by its owner only."""
    tmp = directory / f".{kid}.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)
    os.replace(tmp, directory / f"{kid}.json")


def generate_key(keys_dir: str | Path, alg: str = "RS256", state: str = "active") -> str:
    """Create a private key file readable by its owner only; return its `kid`."""
    if alg not in SUPPORTED_ALGS:
        raise KeyFileError(
            f"unsupported algorithm {alg!r}; choose one of {', '.join(SUPPORTED_ALGS)}"
        )
    if state not in ("next", "active"):
        raise KeyFileError(f"a new key is 'next' or 'active', not {state!r}")
    if alg == "RS256":
        key: Key = RSAKey.generate_key(RSA_KEY_BITS, private=True)
    else:
        key = ECKey.generate_key("P-256", private=True)
    kid = key.thumbprint()
    jwk = key.as_dict(private=True, kid=kid, alg=alg, use="sig")
    directory = Path(keys_dir)
    directory.mkdir(parents=True, exist_ok=True)
    now = clock.now()
    document: dict[str, Any] = {"state": state, "created_at": now, "jwk": jwk}
    if state == "active":
        document["activated_at"] = now
    _write_document(directory, kid, document)
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
        except FileNotFoundError:
            continue  # pruned by another process while we listed the directory
        except (OSError, ValueError) as exc:
            raise KeyFileError(
                f"cannot read signing key {path.name}: {type(exc).__name__}"
            ) from exc
        try:
            jwk = document["jwk"]
            key = KeySet.import_key_set({"keys": [jwk]}).keys[0]
            stored = StoredKey(
                kid=jwk["kid"],
                alg=jwk["alg"],
                state=document.get("state", "active"),
                created_at=float(document.get("created_at", 0)),
                key=key,
                activated_at=_optional_float(document.get("activated_at")),
                retired_at=_optional_float(document.get("retired_at")),
            )
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise KeyFileError(
                f"cannot read signing key {path.name}: {type(exc).__name__}"
            ) from exc
        if stored.state not in STATES or stored.alg not in SUPPORTED_ALGS:
            raise KeyFileError(
                f"signing key {path.name} has state {stored.state!r}, alg {stored.alg!r}"
            )
        keys.append(stored)
    return sorted(keys, key=lambda k: k.created_at)


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


@contextlib.contextmanager
def _directory_lock(keys_dir: Path) -> Iterator[None]:
    """One rotation at a time, even from cron on several hosts sharing the directory."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    with open(keys_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _set_state(keys_dir: Path, kid: str, state: str) -> None:
    path = keys_dir / f"{kid}.json"
    document = json.loads(path.read_text())
    document["state"] = state
    document[f"{'activated' if state == 'active' else 'retired'}_at"] = clock.now()
    _write_document(keys_dir, kid, document)


def rotate(
    keys_dir: str | Path,
    alg: str,
    min_published_seconds: int,
    retired_ttl_seconds: int,
    force: bool = False,
) -> dict[str, Any]:
    """Promote the `next` key of `alg`, retire the active one, publish a new `next`.

    Without a `next` key (the first rotation) only a `next` key is created: it signs from the
    following rotation on. A `next` key younger than `min_published_seconds` is refused
    (KeyFileError) unless `force`. Returns the kids activated, retired, created and pruned.
    """
    if alg not in SUPPORTED_ALGS:
        raise KeyFileError(
            f"unsupported algorithm {alg!r}; choose one of {', '.join(SUPPORTED_ALGS)}"
        )
    directory = Path(keys_dir)
    with _directory_lock(directory):
        keys = [k for k in read_keys(directory) if k.alg == alg]
        active = [k for k in keys if k.state == "active"]
        pending = next((k for k in keys if k.state == "next"), None)
        result: dict[str, Any] = {"alg": alg, "activated": None, "retired": []}
        if pending is None and active and not force:
            result["next"] = generate_key(directory, alg, state="next")
            result["pruned"] = prune(directory, retired_ttl_seconds, locked=True)
            return result
        if pending is None:
            result["activated"] = generate_key(directory, alg, state="active")
        else:
            published_for = clock.now() - pending.created_at
            if active and not force and published_for < min_published_seconds:
                raise KeyFileError(
                    f"next {alg} key {pending.kid} has been published for {int(published_for)} s;"
                    f" relying parties may cache JWKS for {min_published_seconds} s:"
                    " rotate later, or pass --force"
                )
            # Activate before retiring, so a worker reloading in between still has a key.
            _set_state(directory, pending.kid, "active")
            result["activated"] = pending.kid
        for old in active:
            _set_state(directory, old.kid, "retired")
            result["retired"].append(old.kid)
        result["next"] = generate_key(directory, alg, state="next")
        result["pruned"] = prune(directory, retired_ttl_seconds, locked=True)
        return result


def prune(keys_dir: str | Path, retired_ttl_seconds: int, locked: bool = False) -> list[str]:
    """Delete the files of retired keys no longer published; return their kids."""
    directory = Path(keys_dir)
    if not locked:
        with _directory_lock(directory):
            return prune(directory, retired_ttl_seconds, locked=True)
    now = clock.now()
    removed = []
    for stored in read_keys(directory):
        if now >= stored.unpublish_at(retired_ttl_seconds):
            (directory / f"{stored.kid}.json").unlink(missing_ok=True)
            removed.append(stored.kid)
    return removed


class KeyRing:
    """The keys of one process, reloaded when the directory changes.

    Every signing and verification call checks the directory (at most every
    RELOAD_CHECK_SECONDS), so workers pick up `idp keys rotate` without a restart.
    """

    def __init__(self, keys_dir: str | Path, retired_ttl_seconds: int | None = None) -> None:
        self.keys_dir = Path(keys_dir)
        self.retired_ttl = retired_ttl_seconds or retired_ttl(
            max(ACCESS_TOKEN_TTL_SECONDS, ID_TOKEN_TTL_SECONDS)
        )
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._fingerprint: tuple = ()
        self.version = 0
        self._load()

    def configure(self, retired_ttl_seconds: int) -> None:
        """Set how long retired keys stay published (from the token lifetimes) and reload."""
        if retired_ttl_seconds == self.retired_ttl:
            return  # loaded with this TTL already: parsing RSA keys again costs ~20 ms each
        self.retired_ttl = retired_ttl_seconds
        self.refresh(force=True)

    def _directory_fingerprint(self) -> tuple:
        if not self.keys_dir.is_dir():
            return ()
        entries = []
        for path in self.keys_dir.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                entries.append((path.name, path.stat().st_mtime_ns))
        return tuple(sorted(entries))

    def _load(self) -> None:
        fingerprint = self._directory_fingerprint()
        keys = read_keys(self.keys_dir)
        now = clock.now()
        signing = {}
        active = [k for k in keys if k.state == "active"]
        for stored in sorted(active, key=lambda k: k.activated_at or k.created_at):
            signing[stored.alg] = stored  # the most recently activated wins
        published = [k for k in keys if now < k.unpublish_at(self.retired_ttl)]
        public_jwks = {
            "keys": [
                k.key.as_dict(private=False, kid=k.kid, alg=k.alg, use="sig") for k in published
            ]
        }
        # Assigned last, so requests on other threads see the old or the new keys.
        self._fingerprint = fingerprint
        self._unpublish_at = min(
            (k.unpublish_at(self.retired_ttl) for k in published), default=math.inf
        )
        self._signing = signing
        self._public_jwks = public_jwks
        self._verification = KeySet([k.key for k in published]) if published else None
        self.version += 1

    def refresh(self, force: bool = False) -> None:
        """Reload if the directory changed or a retired key's time is up; checked at most
        every RELOAD_CHECK_SECONDS unless `force`. A broken file keeps the current keys."""
        current = time.monotonic()
        if not force and current - self._checked_at < RELOAD_CHECK_SECONDS:
            return
        with self._lock:
            self._checked_at = current
            changed = self._directory_fingerprint() != self._fingerprint
            if not (force or changed or clock.now() >= self._unpublish_at):
                return
            try:
                self._load()
            except KeyFileError as exc:
                # Keep serving with the keys we have; the next check tries again.
                log.error("signing keys not reloaded: %s", exc, extra={"event": "keys_reload"})

    @property
    def algorithms(self) -> list[str]:
        """Algorithms this server can sign with right now."""
        self.refresh()
        return [alg for alg in SUPPORTED_ALGS if alg in self._signing]

    def signing_key(self, alg: str = "RS256") -> StoredKey:
        """Return the active key for `alg`; raise KeyFileError when there is none."""
        self.refresh()
        stored = self._signing.get(alg)
        if stored is None:
            raise KeyFileError(f"no active {alg} signing key in {self.keys_dir}")
        return stored

    def signing_keyset(self, alg: str = "RS256") -> KeySet:
        """A key set holding only the signing key, so joserfc writes its `kid` (a larger set
        would let joserfc pick any key of the algorithm)."""
        return KeySet([self.signing_key(alg).key])

    def public_jwks(self) -> dict[str, Any]:
        """Public halves of the `next`, `active` and still-published `retired` keys."""
        return self._public_jwks

    def verification_keyset(self) -> KeySet:
        """The published keys: tokens signed by a key no longer published do not verify."""
        self.refresh()
        if self._verification is None:
            raise KeyFileError(f"no published keys in {self.keys_dir}")
        return self._verification
