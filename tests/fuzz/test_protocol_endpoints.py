"""Malformed input at every protocol endpoint and hosted form: never a response >= 500.

Hypothesis builds raw query strings and bodies from the parameters each endpoint knows,
mixed with real values (a registered client, its redirect URI, a valid CSRF token) so
requests get past the first check, and with hostile ones: NUL and other control
characters, huge values, bytes that are not UTF-8, repeated parameters, JSON of the wrong
shape and odd Authorization headers. Run it on PostgreSQL too (IDP_TEST_DATABASE_URL):
psycopg2 refuses what SQLite stores. Bounded by MAX_EXAMPLES per endpoint.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..conftest import REDIRECT_URI, USER_EMAIL, make_client
from ..helpers import csrf_token, pkce_pair

MAX_EXAMPLES = 30
REGISTRATION_TOKEN = "r" * 40

ENDPOINTS = {
    # path: (methods, parameters it reads)
    "/authorize": (
        ("GET", "POST"),
        [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "prompt",
            "max_age",
            "code_challenge",
            "code_challenge_method",
            "response_mode",
            "login_hint",
            "id_token_hint",
            "acr_values",
            "claims",
            "request",
            "request_uri",
            "ui_locales",
        ],
    ),
    "/token": (
        ("POST",),
        [
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "refresh_token",
            "scope",
            "client_id",
            "client_secret",
            "client_assertion",
            "client_assertion_type",
            "subject_token",
            "subject_token_type",
            "audience",
            "resource",
        ],
    ),
    "/introspect": (("POST",), ["token", "token_type_hint", "client_id", "client_secret"]),
    "/revoke": (("POST",), ["token", "token_type_hint", "client_id", "client_secret"]),
    "/userinfo": (("GET", "POST"), ["access_token", "schema"]),
    "/session/end": (
        ("GET", "POST"),
        ["id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint"],
    ),
    "/session/end/confirm": (("POST",), ["decision", "csrf_token", "state", "client_id"]),
    "/login": (("GET", "POST"), ["email", "password", "ix", "csrf_token", "login_hint"]),
    "/login/mfa": (("GET", "POST"), ["code", "recovery_code", "ix", "csrf_token"]),
    "/consent": (("GET", "POST"), ["decision", "ix", "csrf_token"]),
    "/register": (("GET", "POST"), ["email", "password", "name", "ix", "csrf_token"]),
    "/password/forgot": (("GET", "POST"), ["email", "csrf_token"]),
    "/password/reset": (("GET", "POST"), ["token", "password", "csrf_token"]),
    "/verify-email": (("GET", "POST"), ["token", "csrf_token"]),
    "/verify-email/resend": (("POST",), ["email", "csrf_token"]),
    "/connect/register": (
        ("POST",),
        [
            "client_name",
            "redirect_uris",
            "grant_types",
            "token_endpoint_auth_method",
            "jwks_uri",
            "scope",
            "post_logout_redirect_uris",
            "backchannel_logout_uri",
        ],
    ),
}

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=20),  # controls, NUL, C1
    st.sampled_from(["\x00", "a\x00b", '"', "\\", "%", "\r\n", "\ud7ff", "\ufffd", " ", ""]),
    st.integers(60_000, 70_000).map(lambda n: "x" * n),  # at and over the body size limit
)
RAW_BYTES = st.binary(max_size=40)  # sent percent-encoded: often not UTF-8


def _encode(pairs) -> str:
    parts = []
    for name, value in pairs:
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        parts.append(
            f"{quote_from_bytes(name.encode('utf-8', 'surrogatepass'))}={quote_from_bytes(raw)}"
        )
    return "&".join(parts)


@pytest.fixture
def fuzz_app(make_app, user):
    return make_app(dynamic_registration=True, registration_initial_token=REGISTRATION_TOKEN)


@pytest.fixture
def known(fuzz_app, user):
    """Real values for the strategies to mix in, so requests reach deeper checks."""
    rp = make_client(fuzz_app, "Fuzzed RP", [REDIRECT_URI], scope="openid profile email")
    client = fuzz_app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    _, challenge = pkce_pair()
    return client, {
        "client_id": rp.client_id,
        "client_secret": rp.plain_secret,
        "redirect_uri": REDIRECT_URI,
        "post_logout_redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid profile",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "grant_type": "authorization_code",
        "csrf_token": token,
        "email": USER_EMAIL,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "basic": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.plain_secret}".encode()).decode(),
    }


def _requests(path: str, known_values: dict):
    methods, names = ENDPOINTS[path]
    name = st.one_of(st.sampled_from(names), st.text(max_size=12))
    value = st.one_of(HOSTILE_TEXT, RAW_BYTES)

    def with_known(pair_name):
        good = known_values.get(pair_name)
        options = [value] if good is None else [st.just(good), value]
        return st.one_of(*options).map(lambda v: (pair_name, v))

    pairs = st.lists(name.flatmap(with_known), max_size=12)  # repeats happen: a list
    json_body = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | HOSTILE_TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=10,
    )
    authorization = st.one_of(
        st.none(),
        st.just(known_values["basic"]),
        st.just(f"Bearer {REGISTRATION_TOKEN}"),
        st.binary(max_size=30).map(lambda b: "Basic " + base64.b64encode(b).decode()),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    )
    return st.fixed_dictionaries(
        {
            "method": st.sampled_from(methods),
            "query": pairs,
            "form": pairs,
            "json": st.one_of(st.none(), json_body),
            "authorization": authorization,
        }
    )


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_malformed_input_never_gets_a_server_error(known, path):
    client, known_values = known

    @given(request=_requests(path, known_values))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def send(request):
        headers = {}
        if request["authorization"]:
            headers["Authorization"] = request["authorization"]
        kwargs = {"query_string": _encode(request["query"]), "headers": headers}
        if request["method"] == "POST":
            if request["json"] is not None:
                kwargs["data"] = json.dumps(request["json"]).encode()
                kwargs["content_type"] = "application/json"
            else:
                kwargs["data"] = _encode(request["form"]).encode()
                kwargs["content_type"] = "application/x-www-form-urlencoded"
        response = client.open(path, method=request["method"], **kwargs)
        assert response.status_code < 500, (path, request, response.get_data(as_text=True)[:300])

    send()
