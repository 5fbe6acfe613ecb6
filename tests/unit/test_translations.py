"""The shipped catalogs are complete, compiled and safe to format.

Fails when a page or mail string has no translation in a language (run `make translations`
and fill the new msgstr), when a committed .mo is older than its .po, or when a translation
drops or renames a %(placeholder)s (the page would fail with KeyError).
"""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from idp.config import PROJECT_ROOT
from idp.views.i18n import LANGUAGES, TRANSLATIONS_DIR

TRANSLATED = sorted(code for code in LANGUAGES if code != "en")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _source_messages() -> set[str]:
    """Every msgid in the code and templates now, as `make translations` extracts them."""
    with open(PROJECT_ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str):
    path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as po:
        return read_po(po, locale=language)


@pytest.fixture(scope="module")
def source_messages():
    return _source_messages()


def test_the_extraction_finds_the_pages_and_the_mail(source_messages):
    assert "Sign in" in source_messages  # templates/auth/login.html
    assert "Please confirm that this address is yours by opening this link:" in source_messages
    assert "Reset your password" in source_messages  # a mail subject (services/accounts.py)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_has_a_translation(language, source_messages):
    catalog = _catalog(language)
    missing = []
    for msgid in sorted(source_messages):
        message = catalog.get(msgid)
        strings = [] if message is None else message.string
        strings = [strings] if isinstance(strings, str) else list(strings)
        if message is None or message.fuzzy or not strings or not all(strings):
            missing.append(msgid)
    assert not missing, f"{language} lacks {len(missing)} strings (make translations): {missing}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder(language):
    for message in _catalog(language):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == expected, (language, message.id)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_committed_mo_file_matches_its_po_file(language):
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(language))
    compiled.seek(0)
    expected = gettext.GNUTranslations(compiled)._catalog
    mo_path = Path(TRANSLATIONS_DIR, language, "LC_MESSAGES", "messages.mo")
    with open(mo_path, "rb") as mo:
        shipped = gettext.GNUTranslations(mo)._catalog
    assert shipped == expected, f"{mo_path} is stale: run make translations"
