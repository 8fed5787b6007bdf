"""Masking of personal data (hardship ledger names and ID numbers).

Anything that leaves the county office (master workbook, receipts, reports upward, logs, the
database's copies of messages) shows ID numbers masked as ``4101**********1234`` and names as
``张**``.

Masking goes by *content*, not by position: :func:`mask_text` finds every 18-character string
in the GB 11643 shape (six digits, a birth date, three digits, a check character — valid or
not) anywhere in a text, and every name read from the ledger, wherever it appears (a finding's
message, a file name, the filler's name field, free text on any sheet).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Ledger columns that identify a person.
SENSITIVE_LEDGER_FIELDS = frozenset({"name", "id_number"})

# GB 11643 shape: region (6 digits), birth date YYYYMMDD (18xx-20xx), sequence (3), check (digit/X).
# Not inside a longer run of letters or digits (a USCC or a longer number is something else).
# Python's \d also matches full-width digits, which people paste from Word.
ID_SHAPE = re.compile(
    r"(?<![0-9A-Za-z０-９])"
    r"\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2]|０[１-９]|１[０-２])\d{2}\d{3}[\dXx×Ｘｘ]"
    r"(?![0-9A-Za-z０-９])"
)
# An ID number typed into a number cell arrives as a float Excel shows as 4.10102199001011E+17.
ID_AS_NUMBER = re.compile(r"(?<![\d.])\d\.\d{9,}[eE]\+?1[67](?!\d)|(?<!\d)\d{17,18}(?:\.0)?(?!\d)")


def mask_id(value: str) -> str:
    """Keep the first four and last four characters: 410102199001011234 -> 4101**********1234."""
    text = str(value)
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def mask_name(value: str) -> str:
    """张三丰 -> 张**: the family name alone does not identify a person in a township ledger."""
    text = str(value)
    return text[:1] + "*" * (len(text) - 1) if text else text


def mask_value(prefix: str, field: str, value: str) -> str:
    """Mask ``value`` when the model location ``prefix.field`` is personal data."""
    if not value or not prefix.startswith("ledger") or field not in SENSITIVE_LEDGER_FIELDS:
        return value
    return mask_id(value) if field == "id_number" else mask_name(value)


def looks_like_id_number(value: object) -> bool:
    """True for a string or number that is, or contains, an 18-character ID number."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        return 1e16 <= abs(value) < 1e19
    text = str(value)
    return bool(ID_SHAPE.search(text) or ID_AS_NUMBER.search(text))


class Masker:
    """Masks ID numbers by shape and the given ledger names, wherever they occur in a text.

    Names shorter than two characters are not searched for (one character is everywhere).
    Longer names are replaced first, so 张三丰 is not half-masked by a ledger entry 张三.
    """

    def __init__(self, names: Iterable[object] = ()):
        found = {str(n).strip() for n in names if n is not None and len(str(n).strip()) >= 2}
        self.names = tuple(sorted(found, key=len, reverse=True))
        self._names_re = re.compile("|".join(map(re.escape, self.names))) if self.names else None

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        text = ID_SHAPE.sub(lambda m: mask_id(m.group(0)), text)
        text = ID_AS_NUMBER.sub(lambda m: mask_id(m.group(0)), text)
        if self._names_re is not None:
            text = self._names_re.sub(lambda m: mask_name(m.group(0)), text)
        return text


def mask_text(text: str | None, names: Iterable[object] = ()) -> str | None:
    """``text`` with every ID number (by shape) and every one of ``names`` masked."""
    return Masker(names)(text)
