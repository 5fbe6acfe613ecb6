"""Outgoing email: SMTP when IDP_SMTP_URL is set, otherwise an outbox folder and the log.

IDP_SMTP_URL forms (user and password percent-encoded, both optional):

    smtp://[user:pass@]host[:port]              plain SMTP, port 25
    smtp://[user:pass@]host[:port]?starttls=1   STARTTLS required, port 587
    smtps://[user:pass@]host[:port]             TLS from the first byte, port 465

TLS verifies the server's certificate and host name against the system CAs (or the file
named by SSL_CERT_FILE). A password is never sent without TLS except to a loopback host.

With no SMTP URL (the embedded default), each message is written as an .eml file into
IDP_OUTBOX_DIR (default instance/outbox/) and, outside production, its text part is logged
at INFO on `idp.mail` so a developer can follow the link.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import smtplib
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from flask import current_app, render_template

from .. import clock
from ..config import PROJECT_ROOT, Config

log = logging.getLogger("idp.mail")

SMTP_TIMEOUT_SECONDS = 10
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class MailError(Exception):
    """The message could not be delivered, or IDP_SMTP_URL is unusable; safe to log."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool = False  # implicit TLS (smtps://)
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse IDP_SMTP_URL; raise MailError saying what is wrong (without the password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise MailError("IDP_SMTP_URL must start with smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError:
        raise MailError("IDP_SMTP_URL has an invalid port") from None
    if not parts.hostname:
        raise MailError("IDP_SMTP_URL needs a host")
    if parts.path not in ("", "/") or parts.fragment:
        raise MailError("IDP_SMTP_URL takes no path or fragment")
    starttls = False
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name != "starttls" or value.lower() not in _TRUE + _FALSE:
            raise MailError("IDP_SMTP_URL accepts only ?starttls=1 or ?starttls=0")
        starttls = value.lower() in _TRUE
    tls = parts.scheme == "smtps"
    if tls and starttls:
        raise MailError("IDP_SMTP_URL: smtps:// is already TLS; drop ?starttls")
    settings = SmtpSettings(
        host=parts.hostname,
        port=port or (465 if tls else 587 if starttls else 25),
        tls=tls,
        starttls=starttls,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )
    if settings.username and not (tls or starttls) and not _is_loopback(settings.host):
        raise MailError("IDP_SMTP_URL sends a password without TLS; use smtps:// or ?starttls=1")
    return settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_message(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Render templates/email/<template>.txt and .html into a multipart/alternative message."""
    if not TEMPLATE_NAME.match(template):
        raise ValueError(f"invalid email template name {template!r}")
    sender = current_app.config["IDP"].mail_from
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage(policy=policy.SMTP)
    # The default policy raises ValueError on CR or LF in a header: no header injection.
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(clock.utcnow())
    message["Message-ID"] = make_msgid(domain=domain)  # domain given: no DNS lookup
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return message


def send_mail(to: str, subject: str, template: str, **context) -> None:
    """Render and deliver one message; raise MailError when the SMTP server cannot take it."""
    config = current_app.config["IDP"]
    message = build_message(to, subject, template, **context)
    if config.smtp_url:
        _send_smtp(message, parse_smtp_url(config.smtp_url))
    else:
        _write_outbox(message, config)


def _send_smtp(message: EmailMessage, settings: SmtpSettings) -> None:
    where = f"{settings.host}:{settings.port}"
    try:
        if settings.tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=SMTP_TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        # Name the server and the failure's type only: SMTP replies may echo credentials.
        log.warning("mail to SMTP server %s failed: %s", where, type(exc).__name__)
        raise MailError(f"could not send mail through {where}: {type(exc).__name__}") from None
    log.info("mail sent through %s", where, extra={"event": "mail_sent"})


def _write_outbox(message: EmailMessage, config: Config) -> Path:
    outbox = Path(config.outbox_dir or PROJECT_ROOT / "instance" / "outbox")
    outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = clock.utcnow().strftime("%Y%m%dT%H%M%S")
    path = outbox / f"{stamp}-{secrets.token_hex(4)}.eml"
    # The message holds single-use links: readable by the server's user only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(message.as_bytes())
    if config.production:
        log.warning("no IDP_SMTP_URL: mail written to %s, not sent", path)
    else:
        text = message.get_body(("plain",))
        body = text.get_content() if text is not None else ""
        log.info("mail to %s, %r (%s):\n%s", message["To"], message["Subject"], path, body)
    return path
