"""Parsers for the settings that have a syntax of their own (IDP_SMTP_URL,
IDP_OUTBOUND_ALLOW): config.validate refuses a bad value at start-up with them, and the
services that use the setting (services/mail.py, services/outbound.py) read it with them.
They import nothing of the server, so config depends on no service.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import MailError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


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


def parse_allow(text: str) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Split IDP_OUTBOUND_ALLOW (comma-separated hosts and CIDRs); raise ValueError."""
    hosts, networks = set(), []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
            continue
        except ValueError:
            pass
        name = item.lower().rstrip(".")
        labels = name.split(".")
        if not all(label and len(label) <= 63 for label in labels) or not all(
            c.isalnum() or c in "-." for c in name
        ):
            raise ValueError(f"{item!r} is neither a host name nor an address or CIDR")
        hosts.add(name)
    return frozenset(hosts), tuple(networks)
