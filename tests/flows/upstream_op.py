"""A small OpenID Provider over HTTP, for federation tests: it signs the upstream user in at
once, and can tamper with its ID tokens or keep its claims for the UserInfo endpoint.

It checks what a real OP checks of idp (client authentication, redirect URI, single-use
code, PKCE S256, `state` and `nonce` sent), so a test passing against it says idp spoke
OpenID Connect Core correctly; what it sends back is whatever the test told it to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from functools import cache
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "idp-downstream"
CLIENT_SECRET = "downstream-secret-" + "x" * 24


@cache
def _keys() -> tuple[RSAKey, RSAKey]:
    """The OP's published key and a stray one it never publishes (one pair per test run)."""
    published = RSAKey.generate_key(2048, parameters={"kid": "op-1", "use": "sig", "alg": "RS256"})
    stray = RSAKey.generate_key(2048, parameters={"kid": "stray-1", "use": "sig", "alg": "RS256"})
    return published, stray


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class UpstreamOP:
    """State a test changes between sign-ins: who signs in, and how the tokens look."""

    def __init__(self) -> None:
        self.account = {
            "sub": "corp-user-1",
            "email": "fed@example.com",
            "email_verified": True,
            "name": "Fed Erated",
        }
        self.claims_only_at_userinfo = False
        self.id_token_changes: dict = {}  # claim -> value; None removes the claim
        self.userinfo_changes: dict = {}
        self.userinfo_body: object = None  # what /userinfo serves instead of the claims
        self.signing = "good"  # or "bad_signature", "none", "unknown_key"
        self.deny = False
        self.token_response_changes: dict = {}  # field -> value; None removes the field
        self.jwks: object = None  # what /jwks serves instead of the real key set
        self.metadata_changes: dict = {}  # fields of the discovery document to replace
        self.userinfo_calls = 0
        self.issuer = ""
        self._codes: dict[str, dict] = {}
        self._access_tokens: dict[str, dict] = {}

    def app(self, issuer: str) -> Flask:
        self.issuer = issuer
        app = Flask("upstream_op")
        published, _ = _keys()

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                {
                    "issuer": issuer,
                    "authorization_endpoint": f"{issuer}/authorize",
                    "token_endpoint": f"{issuer}/token",
                    "userinfo_endpoint": f"{issuer}/userinfo",
                    "jwks_uri": f"{issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                    **self.metadata_changes,
                }
            )

        @app.get("/jwks")
        def jwks():
            if self.jwks is not None:
                return jsonify(self.jwks)
            return jsonify(KeySet([published]).as_dict(private=False))

        @app.get("/authorize")
        def authorize():
            args = request.args
            assert args["client_id"] == CLIENT_ID and args["response_type"] == "code"
            assert args["code_challenge_method"] == "S256" and args["nonce"] and args["state"]
            if self.deny:
                query = {"error": "access_denied", "state": args["state"]}
                return redirect(f"{args['redirect_uri']}?{urlencode(query)}")
            code = secrets.token_urlsafe(16)
            self._codes[code] = {
                "redirect_uri": args["redirect_uri"],
                "challenge": args["code_challenge"],
                "nonce": args["nonce"],
                "account": dict(self.account),
            }
            query = {"code": code, "state": args["state"]}
            return redirect(f"{args['redirect_uri']}?{urlencode(query)}")

        @app.post("/token")
        def token():
            auth = request.authorization
            if not auth or auth.username != CLIENT_ID or auth.password != CLIENT_SECRET:
                return jsonify(error="invalid_client"), 401
            grant = self._codes.pop(request.form.get("code", ""), None)
            verifier = request.form.get("code_verifier", "")
            challenge = _b64(hashlib.sha256(verifier.encode()).digest())
            if (
                grant is None
                or grant["redirect_uri"] != request.form.get("redirect_uri")
                or not hmac.compare_digest(challenge, grant["challenge"])
            ):
                return jsonify(error="invalid_grant"), 400
            access_token = "at-" + secrets.token_urlsafe(16)
            self._access_tokens[access_token] = grant["account"]
            answer = {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant["account"], grant["nonce"], access_token),
            }
            answer.update(self.token_response_changes)
            return jsonify({k: v for k, v in answer.items() if v is not None})

        @app.get("/userinfo")
        def userinfo():
            self.userinfo_calls += 1
            bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            account = self._access_tokens.get(bearer)
            if account is None:
                return jsonify(error="invalid_token"), 401
            if self.userinfo_body is not None:
                return app.response_class(
                    json.dumps(self.userinfo_body), mimetype="application/json"
                )
            return jsonify({**account, **self.userinfo_changes})

        return app

    def id_token(self, account: dict, nonce: str, access_token: str) -> str:
        """Google's shape (its documented ID token): azp and at_hash beside the OIDC claims."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "azp": CLIENT_ID,
            "aud": CLIENT_ID,
            "sub": account["sub"],
            "at_hash": _b64(hashlib.sha256(access_token.encode()).digest()[:16]),
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "nonce": nonce,
        }
        if not self.claims_only_at_userinfo:
            claims.update({k: v for k, v in account.items() if k != "sub"})
        for name, value in self.id_token_changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        published, stray = _keys()
        if self.signing == "none":
            header = _b64(json.dumps({"alg": "none"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        key = stray if self.signing == "unknown_key" else published
        signed = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        if self.signing == "bad_signature":
            head, body, signature = signed.split(".")
            flipped = "A" if signature[0] != "A" else "B"
            return f"{head}.{body}.{flipped}{signature[1:]}"
        return signed
