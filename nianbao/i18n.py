"""Chinese for the words click and typer print themselves (help headings, usage errors).

click and typer translate their own messages through gettext's default domain (they call
``gettext.gettext``), so a compiled catalogue under ``nianbao/locale`` and the language set
for gettext are all it takes; no message is wrapped by hand. typer reads a few of them into
module constants when it is first imported, so :func:`use_chinese` sets those again.

The catalogue's source is ``locale/zh_CN/LC_MESSAGES/messages.po``; ``python -m nianbao.i18n``
compiles it (with Babel, a development dependency).
"""

from __future__ import annotations

import gettext
import os
import sys
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGE = "zh_CN"
DOMAIN = "messages"  # gettext's default domain, the one click and typer use
CATALOGUE = LOCALE_DIR / LANGUAGE / "LC_MESSAGES" / f"{DOMAIN}.po"

# typer.rich_utils constants that typer fills from gettext at import time.
_TYPER_CONSTANTS = {
    "DEPRECATED_STRING": "(deprecated) ",
    "DEFAULT_STRING": "[default: {}]",
    "ENVVAR_STRING": "[env var: {}]",
    "REQUIRED_LONG_STRING": "[required]",
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ERRORS_PANEL_TITLE": "Error",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
}


def use_chinese() -> None:
    """Make click and typer speak Simplified Chinese in this process.

    Township and county staff read Chinese only, whatever their system's locale (Windows sets
    no gettext variable at all), so the language is set rather than guessed. ``LANGUAGE`` is
    read by gettext alone, not by Python's ``locale`` or number formatting.
    """
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    os.environ["LANGUAGE"] = LANGUAGE
    # typer imports rich_utils only to show help or an error, and it then reads these through
    # gettext itself; only a rich_utils imported before now needs them set again (importing
    # it here would cost every command, ``nianbao validate`` included, rich's start-up).
    rich_utils = sys.modules.get("typer.rich_utils")
    if rich_utils is not None:
        for name, msgid in _TYPER_CONSTANTS.items():
            setattr(rich_utils, name, gettext.gettext(msgid))


def compile_catalogue() -> Path:
    """Compile ``messages.po`` to ``messages.mo`` beside it (development use)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with CATALOGUE.open("rb") as fh:
        catalogue = read_po(fh, locale=LANGUAGE)
    target = CATALOGUE.with_suffix(".mo")
    with target.open("wb") as fh:
        write_mo(fh, catalogue)
    return target


if __name__ == "__main__":
    print(compile_catalogue())
