"""Outgoing mail through a real SMTP server on loopback (aiosmtpd), and the dev outbox."""

from __future__ import annotations

import datetime
import email
import ipaddress
import logging
import socket
import ssl
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp.services import mail
from idp.services.mail import MailError, parse_smtp_url, send_mail

LINK = "http://127.0.0.1:5000/verify-email?token=abc123"
TO = "ada@example.com"


class Inbox:
    """aiosmtpd handler keeping what it receives, and a login check for AUTH."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.envelopes = []
        self.logins = []
        self.credentials = credentials

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login[0])
        return AuthResult(success=login == self.credentials)

    def message(self) -> EmailMessage:
        (envelope,) = self.envelopes
        return email.message_from_bytes(envelope.content, policy=policy.default)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    """Start aiosmtpd on 127.0.0.1 and a free port; yields a starter, stops them all."""
    started = []

    def start(inbox: Inbox, **kwargs) -> int:
        port = free_port()
        controller = Controller(
            inbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs
        )
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def tls(tmp_path, monkeypatch):
    """A test CA the client trusts (SSL_CERT_FILE) and a server context for 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject, issuer, public_key, signing_key, *, ca, sans=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_cert = certificate("idp test CA", "idp test CA", ca_key.public_key(), ca_key, ca=True)
    server_cert = certificate(
        "127.0.0.1",
        "idp test CA",
        server_key.public_key(),
        ca_key,
        ca=False,
        sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(server_cert.public_bytes(pem))
    (tmp_path / "server.key").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    # OpenSSL reads SSL_CERT_FILE when ssl.create_default_context() loads the default CAs.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    return server_context


def send(app, **context):
    with app.app_context(), app.test_request_context():
        send_mail(TO, "Confirm your email address", "verify_email", link=LINK, **context)


def assert_verification_message(message: EmailMessage, sender: str):
    assert message["Subject"] == "Confirm your email address"
    assert message["To"] == TO
    assert message["From"] == sender
    assert message["Date"] and message["Message-ID"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert LINK in text.get_content()
    assert f'href="{LINK}"' in html.get_content()
    assert "<" not in text.get_content()


def test_a_message_arrives_by_smtp_with_both_parts(make_app, smtp_server):
    inbox = Inbox()
    port = smtp_server(inbox)
    app = make_app(smtp_url=f"smtp://127.0.0.1:{port}", mail_from="Accounts <id@example.org>")
    send(app, name="Ada Lovelace")
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "id@example.org"
    assert envelope.rcpt_tos == [TO]
    message = inbox.message()
    assert_verification_message(message, "Accounts <id@example.org>")
    assert "Hello Ada Lovelace" in message.get_body(("plain",)).get_content()


def test_starttls_and_login_are_used_when_asked(make_app, smtp_server, tls):
    inbox = Inbox(credentials=("mailer", "p@ss:w/rd"))
    port = smtp_server(
        inbox,
        tls_context=tls,
        require_starttls=True,
        auth_required=True,
        authenticator=inbox.authenticate,
    )
    app = make_app(smtp_url=f"smtp://mailer:p%40ss%3Aw%2Frd@127.0.0.1:{port}?starttls=1")
    send(app)
    assert inbox.logins == ["mailer"]
    assert_verification_message(inbox.message(), "idp <no-reply@localhost>")


def test_smtps_speaks_tls_from_the_first_byte(make_app, smtp_server, tls):
    inbox = Inbox()
    port = smtp_server(inbox, ssl_context=tls)
    send(make_app(smtp_url=f"smtps://127.0.0.1:{port}"))
    assert_verification_message(inbox.message(), "idp <no-reply@localhost>")


def test_an_untrusted_certificate_is_refused(make_app, smtp_server, tls, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")  # the test CA is no longer trusted
    inbox = Inbox()
    port = smtp_server(inbox, tls_context=tls, require_starttls=True)
    with pytest.raises(MailError, match="SSLCertVerificationError"):
        send(make_app(smtp_url=f"smtp://127.0.0.1:{port}?starttls=1"))
    assert inbox.envelopes == []


def test_a_server_without_starttls_is_refused_when_it_is_required(make_app, smtp_server):
    inbox = Inbox()
    port = smtp_server(inbox)
    with pytest.raises(MailError, match="SMTPNotSupportedError"):
        send(make_app(smtp_url=f"smtp://127.0.0.1:{port}?starttls=1"))
    assert inbox.envelopes == []


def test_an_unreachable_server_raises_mail_error_without_the_password(make_app, caplog):
    app = make_app(smtp_url=f"smtp://user:hunter2-secret@127.0.0.1:{free_port()}")
    with pytest.raises(MailError) as raised:
        send(app)
    assert "hunter2" not in str(raised.value)
    assert "hunter2" not in caplog.text


def test_without_smtp_the_message_goes_to_the_outbox_and_the_log(make_app, tmp_path, caplog):
    app = make_app(outbox_dir=str(tmp_path / "outbox"))
    with caplog.at_level(logging.INFO, logger="idp.mail"):
        send(app, name="Ada")
    (path,) = (tmp_path / "outbox").iterdir()
    assert path.suffix == ".eml"
    assert path.stat().st_mode & 0o077 == 0  # single-use links: owner only
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert_verification_message(message, "idp <no-reply@localhost>")
    assert any(r.name == "idp.mail" and LINK in r.getMessage() for r in caplog.records)


def test_html_escapes_the_context_and_text_keeps_it(make_app, tmp_path):
    app = make_app(outbox_dir=str(tmp_path))
    send(app, name="<b>Ada</b> & co")
    message = email.message_from_bytes(next(tmp_path.iterdir()).read_bytes(), policy=policy.default)
    assert "&lt;b&gt;Ada&lt;/b&gt; &amp; co" in message.get_body(("html",)).get_content()
    assert "<b>Ada</b> & co" in message.get_body(("plain",)).get_content()


def test_the_password_reset_template_renders_with_only_an_app_context(make_app, tmp_path):
    app = make_app(outbox_dir=str(tmp_path))
    with app.app_context():  # as in a background sending thread
        send_mail(TO, "Reset your password", "password_reset", link=LINK, name="Ada")
    message = email.message_from_bytes(next(tmp_path.iterdir()).read_bytes(), policy=policy.default)
    assert message["Subject"] == "Reset your password"
    assert LINK in message.get_body(("plain",)).get_content()
    assert f'href="{LINK}"' in message.get_body(("html",)).get_content()


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: eve@example.com", "Hi\nBcc: eve@example.com"])
def test_a_header_with_a_line_break_is_refused(make_app, tmp_path, subject):
    app = make_app(outbox_dir=str(tmp_path))
    with app.app_context(), pytest.raises(ValueError):
        send_mail(TO, subject, "verify_email", link=LINK)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("template", ["../base", "email/verify_email", "Verify", ""])
def test_a_template_name_outside_templates_email_is_refused(make_app, tmp_path, template):
    app = make_app(outbox_dir=str(tmp_path))
    with app.app_context(), pytest.raises(ValueError, match="template"):
        send_mail(TO, "Hi", template, link=LINK)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 25, False, False, "", "")),
        ("smtp://mail.example.com:2525", ("mail.example.com", 2525, False, False, "", "")),
        (
            "smtp://u:p%40ss@mail.example.com?starttls=1",
            ("mail.example.com", 587, False, True, "u", "p@ss"),
        ),
        ("smtps://u:p@mail.example.com", ("mail.example.com", 465, True, False, "u", "p")),
        ("smtp://u:p@127.0.0.1:1025", ("127.0.0.1", 1025, False, False, "u", "p")),
        ("smtp://u:p@localhost:1025?starttls=0", ("localhost", 1025, False, False, "u", "p")),
    ],
)
def test_smtp_urls_are_parsed(url, expected):
    s = parse_smtp_url(url)
    assert (s.host, s.port, s.tls, s.starttls, s.username, s.password) == expected


def test_parsed_settings_do_not_show_the_password():
    assert "hunter2" not in repr(parse_smtp_url("smtps://u:hunter2@mail.example.com"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.com", "smtp://"),
        ("smtp://", "host"),
        ("smtp://mail.example.com:port", "port"),
        ("smtp://mail.example.com/path", "path"),
        ("smtp://mail.example.com?tls=1", "starttls"),
        ("smtp://mail.example.com?starttls=maybe", "starttls"),
        ("smtps://mail.example.com?starttls=1", "already TLS"),
        ("smtp://u:secret@mail.example.com", "without TLS"),
    ],
)
def test_unusable_smtp_urls_are_refused_without_echoing_the_password(url, message):
    with pytest.raises(MailError, match=message) as raised:
        parse_smtp_url(url)
    assert "secret" not in str(raised.value)


def test_mail_settings_come_from_the_environment(monkeypatch):
    from idp.config import load_config

    monkeypatch.setenv("IDP_SMTP_URL", "smtps://u:p@mail.example.com")
    monkeypatch.setenv("IDP_MAIL_FROM", "Accounts <id@example.org>")
    monkeypatch.setenv("IDP_OUTBOX_DIR", "/var/spool/idp")
    config = load_config()
    assert config.smtp_url == "smtps://u:p@mail.example.com"
    assert (config.mail_from, config.outbox_dir) == ("Accounts <id@example.org>", "/var/spool/idp")
    assert "u:p@" not in repr(config)  # the SMTP password stays out of logs and tracebacks


def test_the_default_outbox_is_instance_outbox(make_app, tmp_path, monkeypatch):
    monkeypatch.setattr(mail, "PROJECT_ROOT", tmp_path)
    send(make_app(outbox_dir=""))
    assert len(list((tmp_path / "instance" / "outbox").glob("*.eml"))) == 1
