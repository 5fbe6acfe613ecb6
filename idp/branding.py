"""Branding settings (IDP_BRAND_*, IDP_TEMPLATES_DIR): checked at start-up, shaped for pages.

Kept free of Flask so the configuration can be checked without building an app. The Flask
side (template loader, /brand/ files, the colour stylesheet, the CSP additions) lives in
idp/views/branding.py. docs/theming.md is the operator's guide.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .config import Config

HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# What may appear in a URL put into an attribute and a CSP source: no quotes, spaces, ;, ','.
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&()*+=%]+$")
DEFAULT_PRIMARY = "#2457c5"


class BrandError(ValueError):
    """A branding setting cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Brand:
    """What the page templates read as `brand`."""

    name: str
    logo_url: str = ""
    favicon_url: str = ""
    stylesheet_url: str = ""
    primary_color: str = ""

    @property
    def on_primary(self) -> str:
        """Text colour readable on the primary colour (WCAG relative luminance)."""
        return readable_text_colour(self.primary_color or DEFAULT_PRIMARY)


def brand_of(config: Config) -> Brand:
    """The brand the pages show, from settings already checked by check_brand."""
    return Brand(
        name=config.brand_name,
        logo_url=config.brand_logo_url,
        favicon_url=config.brand_favicon_url,
        stylesheet_url=config.brand_stylesheet_url,
        primary_color=expand_colour(config.brand_primary_color),
    )


def check_brand(config: Config) -> None:
    """Raise ConfigError naming the IDP_BRAND_* or *_DIR setting that cannot be used."""
    from .config import ConfigError

    name = config.brand_name.strip()
    if not name or len(name) > 64 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ConfigError("IDP_BRAND_NAME must be 1 to 64 printable characters")
    for setting in ("brand_logo_url", "brand_favicon_url", "brand_stylesheet_url"):
        value = getattr(config, setting)
        if value:
            try:
                check_asset_url(value, allow_http_loopback=not config.production)
            except BrandError as exc:
                raise ConfigError(f"IDP_{setting.upper()}: {exc}") from None
    if config.brand_primary_color and not HEX_COLOUR.match(config.brand_primary_color):
        raise ConfigError(
            f"IDP_BRAND_PRIMARY_COLOR must be #rgb or #rrggbb, got {config.brand_primary_color!r}"
        )
    for setting in ("brand_dir", "templates_dir"):
        folder = getattr(config, setting)
        if folder and not os.path.isdir(folder):
            raise ConfigError(f"IDP_{setting.upper()} is not a folder: {folder!r}")


def check_asset_url(url: str, allow_http_loopback: bool = False) -> None:
    """Accept a same-origin path (/brand/logo.svg) or an https URL; raise BrandError else.

    http is accepted only for a loopback host outside production (a developer's machine).
    The URL ends up in an attribute and, for another origin, in the CSP: no javascript:,
    data:, protocol-relative //host, quotes or spaces.
    """
    if not _URL_CHARACTERS.match(url):
        raise BrandError("must be a URL without spaces or quotes")
    if url.startswith("/") and not url.startswith("//"):
        return
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and allow_http_loopback and is_loopback(parts.hostname or ""):
        return
    raise BrandError("must be an https:// URL or a path starting with /")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """scheme://host[:port] of an absolute URL; '' for a same-origin path."""
    parts = urlsplit(url)
    if not parts.scheme:
        return ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def expand_colour(colour: str) -> str:
    """#abc -> #aabbcc (lower case); '' stays ''."""
    if len(colour) == 4:
        colour = "#" + "".join(c * 2 for c in colour[1:])
    return colour.lower()


def readable_text_colour(colour: str) -> str:
    """White or near-black, whichever contrasts more with `colour` (WCAG 2 formula)."""
    colour = expand_colour(colour)
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # Contrast with white: 1.05 / (L + 0.05); with #1d2330 (L ~ 0.016): (L + 0.05) / 0.066.
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.066 else "#1d2330"
