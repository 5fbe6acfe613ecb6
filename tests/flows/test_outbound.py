"""Outbound fetches (jwks_uri, back-channel logout, upstream discovery) under the SSRF rules."""

from __future__ import annotations

import http.server
import ipaddress
import json
import socket
import threading
import time

import pytest
import requests
from joserfc.jwk import KeySet, RSAKey

from idp.config import load_config, provider
from idp.extensions import db
from idp.models import AuditEvent
from idp.services import clients, outbound

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..helpers import Browser, deliver_outbox
from .test_client_credentials import _assertion, _token_with
from .tokens import login_tokens

NOT_LOOPBACK = "192.0.2.0/24"  # an allow-list that replaces the development default


class Upstream:
    """A loopback HTTP server that records each path it was asked for."""

    def __init__(self, routes: dict) -> None:
        self.hits: list[str] = []
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                upstream.hits.append(self.path)
                status, headers, body, delay = routes.get(self.path, (404, {}, b"", 0))
                time.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

            def log_message(self, *args):
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream_server():
    made = []

    def start(routes):
        made.append(Upstream(routes))
        return made[-1]

    yield start
    for item in made:
        item.close()


def _jwks_client(app, key, uri):
    return make_client(
        app,
        "Signer",
        [],
        grant_types=["client_credentials"],
        scope="reports",
        auth_method="private_key_jwt",
        jwks_uri=uri,
    )


def _signer(upstream_server, path="/jwks", **route):
    key = RSAKey.generate_key(2048, parameters={"kid": "signer-1"}, private=True)
    body = json.dumps(KeySet([key]).as_dict(private=False)).encode()
    server = upstream_server({path: (200, {"Content-Type": "application/json"}, body, 0), **route})
    return key, server


def test_jwks_uri_on_loopback_works_in_development_by_default(app, client, upstream_server):
    key, server = _signer(upstream_server)
    registered = _jwks_client(app, key, f"http://localhost:{server.port}/jwks")
    response = _token_with(client, registered, _assertion(key, registered.client_id))
    assert response.status_code == 200, response.get_json()
    assert server.hits == ["/jwks"]


def test_jwks_uri_resolving_to_loopback_is_not_fetched_unless_allowed(make_app, upstream_server):
    app = make_app(outbound_allow=NOT_LOOPBACK)
    key, server = _signer(upstream_server)
    # A host name passes registration; its address is checked after resolution.
    registered = _jwks_client(app, key, f"http://localhost:{server.port}/jwks")
    response = _token_with(app.test_client(), registered, _assertion(key, registered.client_id))
    assert response.get_json()["error"] == "invalid_client"
    assert server.hits == []


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/jwks",
        "http://[::ffff:127.0.0.1]:8080/jwks",
        "https://100.64.0.1/jwks",
        "http://user:pw@example.org/jwks",
        "ftp://example.org/jwks",
    ],
)
def test_registration_refuses_urls_idp_may_not_fetch(make_app, uri):
    app = make_app(outbound_allow=NOT_LOOPBACK)
    key = RSAKey.generate_key(2048, private=True)
    with pytest.raises(clients.ClientError):
        _jwks_client(app, key, uri)
    with pytest.raises(clients.ClientError):
        make_client(app, "Notes", [REDIRECT_URI], backchannel_logout_uri=uri)


def test_redirects_are_not_followed(app, client, upstream_server):
    key, server = _signer(
        upstream_server, path="/real", **{"/jwks": (302, {"Location": "/real"}, b"", 0)}
    )
    registered = _jwks_client(app, key, f"http://127.0.0.1:{server.port}/jwks")
    response = _token_with(client, registered, _assertion(key, registered.client_id))
    assert response.get_json()["error"] == "invalid_client"
    assert server.hits == ["/jwks"]


def test_responses_over_the_size_cap_are_refused(app, client, upstream_server):
    key = RSAKey.generate_key(2048, parameters={"kid": "signer-1"}, private=True)
    jwks = KeySet([key]).as_dict(private=False)
    huge = json.dumps({**jwks, "pad": "x" * (outbound.MAX_RESPONSE_BYTES + 10)}).encode()
    server = upstream_server({"/jwks": (200, {"Content-Type": "application/json"}, huge, 0)})
    registered = _jwks_client(app, key, f"http://127.0.0.1:{server.port}/jwks")
    response = _token_with(client, registered, _assertion(key, registered.client_id))
    assert response.get_json()["error"] == "invalid_client"


def test_a_slow_server_times_out(app, client, upstream_server, monkeypatch):
    monkeypatch.setattr(outbound, "READ_TIMEOUT_SECONDS", 0.5)
    key, server = _signer(upstream_server, **{"/slow": (200, {}, b"{}", 3)})
    registered = _jwks_client(app, key, f"http://127.0.0.1:{server.port}/slow")
    started = time.monotonic()
    response = _token_with(client, registered, _assertion(key, registered.client_id))
    assert response.get_json()["error"] == "invalid_client"
    assert time.monotonic() - started < 2.5


def test_one_private_answer_among_public_ones_refuses_the_host(app, monkeypatch):
    def resolve(host, port, *args, **kwargs):
        answers = ["93.184.216.34", "10.1.2.3"]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with app.app_context(), pytest.raises(outbound.OutboundRefused, match="10.1.2.3"):
        outbound.session().get("http://mixed.example/jwks")


def test_the_socket_connects_to_the_address_that_was_checked(app, upstream_server, monkeypatch):
    """DNS rebinding: a second lookup could answer differently, so there is none."""
    server = upstream_server({"/jwks": (200, {}, b"{}", 0)})
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.9.9.9", "10.9.9.9"])

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with app.app_context():
        response = outbound.session().get(f"http://rebind.example:{server.port}/jwks")
    assert response.status_code == 200
    assert server.hits == ["/jwks"]
    assert next(answers) == "10.9.9.9"  # exactly one lookup was made


def test_environment_proxies_are_ignored(app, upstream_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    server = upstream_server({"/jwks": (200, {}, b"{}", 0)})
    with app.app_context():
        assert outbound.session().get(f"http://127.0.0.1:{server.port}/jwks").status_code == 200


def test_production_fetches_https_only():
    config = load_config(
        {
            "env": "production",
            "issuer": "https://id.example.org",
            "secret_key": "k" * 40,
            "smtp_url": "smtp://127.0.0.1:25",
            "redis_url": "redis://127.0.0.1:6379/0",
        }
    )
    policy = outbound.policy_for(config)
    with pytest.raises(outbound.OutboundRefused):
        policy.check_url("http://rp.example.org/backchannel")
    with pytest.raises(outbound.OutboundRefused):
        policy.check_url("https://127.0.0.1/jwks")  # no loopback by default in production
    assert policy.check_url("https://rp.example.org/jwks") == "rp.example.org"


def test_the_allow_list_names_hosts_and_networks():
    config = load_config({"outbound_allow": "jwks.internal, 10.20.0.0/16"})
    policy = outbound.policy_for(config)
    policy.check_address("jwks.internal", ipaddress.ip_address("10.99.0.1"))
    policy.check_address("other.internal", ipaddress.ip_address("10.20.3.4"))
    with pytest.raises(outbound.OutboundRefused):
        policy.check_address("other.internal", ipaddress.ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::1",
        "64:ff9b::a00:1",
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert outbound.is_public(ipaddress.ip_address(address))


def test_back_channel_logout_is_not_sent_to_a_refused_address(make_app, upstream_server):
    app = make_app(outbound_allow=NOT_LOOPBACK)
    server = upstream_server({"/bc": (200, {}, b"", 0)})
    make_user(app, USER_EMAIL, USER_PASSWORD)
    notes = make_client(
        app, "Notes", [REDIRECT_URI], backchannel_logout_uri=f"http://localhost:{server.port}/bc"
    )
    browser = Browser(app.test_client())
    login_tokens(browser, app.test_client(), notes, scope="openid")
    browser.submit(browser.get("/"), "/logout", {})
    deliver_outbox(app)
    assert server.hits == []
    with app.app_context():
        failed = db.session.execute(
            db.select(AuditEvent).filter_by(event_type="backchannel_logout_failed")
        ).scalar_one()
    assert failed.details["attempts"] == 1
    assert failed.details["outcome"].startswith("refused")


def test_upstream_discovery_is_not_fetched_from_a_refused_address(make_app, upstream_server):
    server = upstream_server({"/.well-known/openid-configuration": (200, {}, b"{}", 0)})
    corp = provider("corp", "oidc", "id", "secret", issuer=f"http://localhost:{server.port}")
    app = make_app(outbound_allow=NOT_LOOPBACK, providers=(corp,))
    response = app.test_client().get("/login/with/corp")
    assert response.status_code == 502
    assert server.hits == []


def test_https_verifies_the_host_name_on_the_checked_connection(tmp_path):
    """The socket goes to the checked address, TLS still checks the certificate's name."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = Upstream({"/jwks": (200, {}, b"{}", 0)})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    try:
        policy = outbound.Policy(https_only=True, networks=(ipaddress.ip_network("127.0.0.0/8"),))
        by_name = outbound.OutboundSession(policy).get(
            f"https://localhost:{server.port}/jwks", verify=str(cert_file)
        )
        assert by_name.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):  # the certificate names localhost
            outbound.OutboundSession(policy).get(
                f"https://127.0.0.1:{server.port}/jwks", verify=str(cert_file)
            )
    finally:
        server.close()
