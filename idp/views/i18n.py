"""The language of pages and mail: Flask-Babel with idp's choice of locale.

The language is, in order: the person's own choice on the page's switcher (?lang=de, kept in
a cookie), the app's `ui_locales` in the parked authorization request (OIDC Core 3.1.2.1),
the browser's Accept-Language, English. Mail sent after the response (services/accounts.py
run_later) keeps the language of the request that caused it (g.idp_locale).

Catalogs live in idp/translations/<lang>/LC_MESSAGES/messages.po; `make translations`
extracts, updates and compiles them. The compiled .mo files are committed, so a fresh
checkout, CI and the wheel need no build step; tests/unit/test_translations.py fails when a
catalog misses a string or its .mo is older than its .po.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, get_locale
from werkzeug.exceptions import HTTPException

from ..services import interaction

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "idp_lang"
LANGUAGE_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 3600
# Form fields a re-rendered page must keep when the person switches language.
_CARRIED_FIELDS = ("ix", "next")


def supported(tag: str | None) -> str | None:
    """The supported language for a BCP 47 tag ('de-CH' -> 'de'); None if there is none."""
    if not tag:
        return None
    language = tag.strip().replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else None


def select_locale() -> str:
    """The language of this request (see the module docstring for the order)."""
    forced = g.get("idp_locale")
    if forced:
        return forced
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen = supported(request.args.get("lang")) or supported(request.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    for tag in _ui_locales():
        if supported(tag):
            return supported(tag)
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LANGUAGE


def _ui_locales() -> list[str]:
    """ui_locales of the authorization request this page continues, if any."""
    ix_id = request.args.get("ix") or _form().get("ix")
    if not ix_id:
        return []
    try:
        parked = interaction.load(ix_id)
    except Exception:  # noqa: BLE001 - the store is down: the page itself will say so
        return []
    return (parked.params.get("ui_locales") or "").split() if parked else []


def _form() -> Mapping[str, str]:
    """The posted form, or nothing when it cannot be read (an error page for a body over
    the size limit must not parse that body again)."""
    try:
        return request.form
    except HTTPException:
        return {}


def current_language() -> str:
    """The two-letter code of the language pages and mail are rendered in now."""
    locale = get_locale()
    return locale.language if locale else DEFAULT_LANGUAGE


def switch_url(language: str) -> str:
    """This page in another language (GET; a posted page keeps its ix/next)."""
    args = request.args.to_dict() if request.method == "GET" else {}
    if request.method != "GET":
        form = _form()
        args.update({k: form[k] for k in _CARRIED_FIELDS if form.get(k)})
    args["lang"] = language
    return f"{request.path}?{urlencode(args)}"


def init_app(app: Flask) -> None:
    Babel(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(TRANSLATIONS_DIR),
    )

    @app.context_processor
    def inject_languages() -> dict:
        return {
            "current_language": current_language,
            "languages": LANGUAGES,
            "switch_url": switch_url,
        }

    @app.after_request
    def remember_language(response: Response) -> Response:
        chosen = supported(request.args.get("lang"))
        if chosen and request.cookies.get(LANGUAGE_COOKIE) != chosen:
            response.set_cookie(
                LANGUAGE_COOKIE,
                chosen,
                max_age=LANGUAGE_COOKIE_MAX_AGE_SECONDS,
                path="/",
                secure=app.config["IDP"].https,
                httponly=True,
                samesite="Lax",
            )
        return response
