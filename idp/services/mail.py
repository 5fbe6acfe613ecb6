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

import contextlib
import logging
import os
import re
import secrets
import smtplib
import ssl
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import flask_babel
from flask import current_app, g, render_template

from .. import clock
from ..config import PROJECT_ROOT, Config
from ..errors import MailError
from ..setting_parsers import SmtpSettings, parse_smtp_url
from . import outbox

log = logging.getLogger("idp.mail")

SMTP_TIMEOUT_SECONDS = 10
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


def build_message(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Render templates/email/<template>.txt and .html into a multipart/alternative message."""
    if not TEMPLATE_NAME.match(template):
        raise ValueError(f"invalid email template name {template!r}")
    sender = current_app.config["IDP"].mail_from
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage(policy=policy.SMTP)
    # The default policy raises ValueError on CR or LF in a header: no header injection.
    message["Subject"] = str(subject)  # a lazy string translates here, in the mail's language
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


def send_later(to: str, subject: str, template: str, **context: str) -> None:
    """Stage a message in the current transaction's outbox; sent once the use case commits,
    retried with backoff (SMTP down) across restarts. The caller commits."""
    if not TEMPLATE_NAME.match(template):
        raise ValueError(f"invalid email template name {template!r}")
    outbox.enqueue(
        "mail",
        {
            "to": to,
            "subject": str(subject),  # translated now, in the language of this request
            "template": template,
            "context": context,
            "locale": current_locale(),
        },
    )


def current_locale() -> str | None:
    """The language of the current request, carried with work that renders mail later."""
    locale = flask_babel.get_locale()
    return str(locale) if locale else None


@contextlib.contextmanager
def speaking(locale: str | None) -> Iterator[None]:
    """Render in `locale` (read by views/i18n.py): a queued mail speaks the language of the
    page that caused it, not the default of the worker that drains the outbox."""
    previous = g.get("idp_locale")
    g.idp_locale = locale
    flask_babel.refresh()
    try:
        yield
    finally:
        g.idp_locale = previous
        flask_babel.refresh()


def _deliver_queued(payload: dict, _attempt: int) -> None:
    try:
        with speaking(payload.get("locale")):
            send_mail(payload["to"], payload["subject"], payload["template"], **payload["context"])
    except MailError as exc:
        raise outbox.RetryLater(str(exc)) from None


# An SMTP server that is down for a while: attempts over about an hour and a half.
outbox.register(
    "mail", outbox.Kind(deliver=_deliver_queued, delays=(10, 60, 300, 1800, 3600), sealed=True)
)


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
