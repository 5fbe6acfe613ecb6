"""Password policy per NIST SP 800-63B §5.1.1.2: length and a blocklist, no composition rules.

Any characters are allowed, counted as Unicode code points. The blocklist is the 100,000
most common passwords, shipped in idp/data/ (see its README) and read once, on first use.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

from flask_babel import lazy_gettext as _l

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128  # the same as users.MAX_PASSWORD_LENGTH
COMMON_PASSWORDS_FILE = "data/common-passwords.txt.gz"


def _fold(text: str) -> str:
    # Case and surrounding spaces do not make a listed password any harder to guess.
    return text.strip().casefold()


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the shipped common-password list, case-folded; loaded once per process."""
    path = resources.files("idp").joinpath(COMMON_PASSWORDS_FILE)
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return frozenset(_fold(line) for line in lines if line.strip())


def check_password(password: str, email: str) -> str | None:
    """Return why `password` is refused for the account `email`, or None when it is fine.

    The reason is in the language of the page asking (a lazy string: str() translates it)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _l("Use at most %(count)s characters.", count=MAX_PASSWORD_LENGTH)
    folded = _fold(password)
    if email and folded == _fold(email):
        return _l("Your password cannot be your email address.")
    if folded in common_passwords():
        return _l("This password is on a list of common or leaked passwords; choose another.")
    return None
