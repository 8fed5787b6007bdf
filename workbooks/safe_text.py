"""Text from a file, made safe to write into a workbook, a CSV export or a file name.

Everything a township sends is untrusted: file names, sheet names, unit names, free text,
cover fields. Every writer (master workbook through ``SheetData.grid``, receipts, exports)
passes what it writes through :func:`safe_value`:

* **Never a formula.** openpyxl stores a ``str`` beginning with ``=`` as a formula, and Excel
  or WPS evaluate text beginning with ``= + - @`` (or a tab / carriage return before one) when a
  CSV is opened or a cell is edited (OWASP, "CSV Injection"). Such text gets a leading
  apostrophe, OWASP's neutraliser: it shows and stays literal text everywhere.
* **Never a character XML 1.0 forbids** (C0 controls other than tab/newline/CR, lone
  surrogates, U+FFFE/U+FFFF): openpyxl raises ``IllegalCharacterError`` on them, which would
  lose the whole workbook. They are dropped.

:func:`safe_filename` makes a file-name part from untrusted text: output paths come from the
county config, and text only ever decorates a name inside the chosen folder.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
# XML 1.0 Char production, negated (tab, LF and CR are allowed).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
_NAME_BAD = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MAX_NAME_CHARS = 60  # per part: a Windows path stays far below 260 characters


def safe_text(text: str) -> str:
    """``text`` as a literal string: XML-illegal characters dropped, formula starts neutralised."""
    if _XML_ILLEGAL.search(text):
        text = _XML_ILLEGAL.sub("", text)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def safe_value(value: Any) -> Any:
    """A cell value ready to write: strings through :func:`safe_text`, anything else as is."""
    return safe_text(value) if isinstance(value, str) else value


def is_formula_like(value: Any) -> bool:
    """True for a string that a spreadsheet would (or could, on editing) take as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def safe_console(text: object) -> str:
    """Text for a terminal through rich: no control characters (no ANSI escape sequence, no
    bidirectional override) and rich markup escaped, so ``[red]`` in a file name stays text."""
    from rich.markup import escape

    return escape(_CONTROL.sub("", str(text)))


def safe_filename(text: str, fallback: str = "未命名") -> str:
    """One file-name part (no folder) from untrusted text.

    No path separators, drive letters, ``..``, NUL or control characters, no reserved Windows
    device name (``CON``, ``AUX``, ``NUL``, ``COM1`` …), no leading/trailing dots or spaces,
    at most :data:`MAX_NAME_CHARS` characters; ``fallback`` when nothing usable is left.
    """
    text = unicodedata.normalize("NFKC", str(text))
    text = _NAME_BAD.sub("_", _XML_ILLEGAL.sub("", text))
    text = re.sub(r"\.{2,}", "_", text).strip(" ._")
    text = text[:MAX_NAME_CHARS].strip(" ._")
    if not text or text.split(".")[0].upper() in _WINDOWS_RESERVED:
        return fallback if not text else f"_{text}"
    return text
