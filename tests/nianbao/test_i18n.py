"""The Chinese catalogue for click's and typer's own words: complete, and compiled as written."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import click
import pytest
import typer
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from nianbao.i18n import CATALOGUE, LANGUAGE

PLACEHOLDER = re.compile(r"\{[^}]*\}|%\(\w+\)s")


def _catalogue():
    with CATALOGUE.open("rb") as fh:
        return read_po(fh, locale=LANGUAGE)


def _library_messages() -> set[str | tuple[str, str]]:
    """Every msgid the installed click and typer pass to gettext."""
    found: set[str | tuple[str, str]] = set()
    for package in (click, typer):
        for source in sorted(Path(package.__file__).parent.glob("*.py")):
            for _, msg, _, _ in extract_from_file("python", str(source), keywords={"_": None, "gettext": None, "ngettext": (1, 2)}):
                found.add(msg if isinstance(msg, str) else tuple(msg))
    return found


def test_every_message_of_click_and_typer_has_a_chinese_translation():
    translated = {m.id: m.string for m in _catalogue() if m.id}
    library = _library_messages()
    assert len(library) > 50  # the extraction itself worked
    missing = sorted(str(m) for m in library if not translated.get(m))
    assert missing == []


def test_translations_are_chinese_and_keep_their_placeholders():
    for message in _catalogue():
        if not message.id or message.id == "d":  # "d" is click's progress-bar unit for days
            continue
        source = message.id if isinstance(message.id, str) else message.id[-1]
        text = message.string if isinstance(message.string, str) else message.string[0]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text), message.id
        assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(source)), message.id


def test_the_compiled_catalogue_matches_its_source():
    with CATALOGUE.with_suffix(".mo").open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    for message in _catalogue():
        if not message.id:
            continue
        if isinstance(message.id, str):
            assert compiled.gettext(message.id) == message.string, message.id
        else:
            for n in (1, 2):
                assert compiled.ngettext(*message.id, n) == message.string[0], message.id


@pytest.mark.parametrize("words", [("Usage:", "用法："), ("Missing argument", "缺少参数")])
def test_gettext_answers_in_chinese_after_use_chinese(words):
    import nianbao.cli  # noqa: F401  (importing the command line sets the language)

    english, chinese = words
    assert gettext.gettext(english) == chinese
