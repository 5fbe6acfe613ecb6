"""The claims options idp hands Authlib for upstream ID tokens (OIDC Core §3.1.3.7)."""

from __future__ import annotations

import time

import pytest
from authlib.oidc.core import CodeIDToken
from joserfc.errors import JoseError

from idp.config import GOOGLE_ISSUER
from idp.oauth.upstream import id_token_claims_options


def validate(issuer, **claims):
    now = int(time.time())
    base = {"iss": issuer, "sub": "1", "aud": "cid", "exp": now + 60, "iat": now, "nonce": "n"}
    token = CodeIDToken(
        {**base, **claims},
        {"alg": "RS256"},
        id_token_claims_options(issuer, "cid"),
        {"nonce": "n", "client_id": "cid"},
    )
    token.validate(leeway=120)


def test_google_id_tokens_may_name_the_issuer_without_its_scheme():
    """Google documents `accounts.google.com` and `https://accounts.google.com` as iss."""
    validate(GOOGLE_ISSUER, iss="accounts.google.com")
    validate(GOOGLE_ISSUER)


def test_other_issuers_must_match_exactly():
    with pytest.raises(JoseError):
        validate("https://login.example.com", iss="login.example.com")
    with pytest.raises(JoseError):
        validate(GOOGLE_ISSUER, iss="https://accounts.google.com.evil.example")
