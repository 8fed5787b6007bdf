"""Fast checks of USCCs and ID numbers that agree with python-stdnum, the definition.

python-stdnum checks one code at a time in pure Python (``uscc.validate`` compacts the code
three times; ``ric.validate`` looks the region up in its number database on every call), which
was most of the rule time of a 300-row roster. These answer "valid or not" for a whole column:

* :func:`uscc_valid` computes the check character with a lookup table (300 codes: 2.1 ms
  against stdnum's 11 ms on the busy benchmark machine; numpy took 0.3 ms, but importing it
  costs ``nianbao validate`` some 60 ms of its 250 ms budget, and the worker processes
  nothing else needs numpy for);
* :func:`ric_valid` runs stdnum's checks (length, digits, check digit, birth date, birth place)
  with stdnum's own region database, ``stdnum/cn/loc.dat``, looked up in its text: stdnum
  parses the whole file on first use (25 ms or more, a tenth of ``nianbao validate``); finding
  one region's line is microseconds. The lookup is used only while the file has the two line
  shapes stdnum 2.2 ships (province, county); any other shape, and stdnum itself is asked.

Both only ever *accept* what stdnum accepts (``tests/schemas/test_codes.py`` checks agreement
with hypothesis); a code they reject goes to stdnum, which says why (see ``nianbao.schemas.rules``).
Codes are expected as ``nianbao.schemas.coerce.to_code`` gives them: upper case, no separators.
"""

from __future__ import annotations

import datetime
import importlib.util
import re
from collections.abc import Sequence
from functools import cache, lru_cache
from operator import mul
from pathlib import Path

# GB 32100-2015, as in stdnum.cn.uscc
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_DIGITS = frozenset("0123456789")


def _uscc_ok(code: str) -> bool:
    if len(code) != 18 or not _DIGITS.issuperset(code[:8]):
        return False
    value = _USCC_VALUE.get
    try:
        total = sum(map(mul, map(value, code), _USCC_WEIGHTS))  # the first 17 characters
        return (31 - total) % 31 == value(code[17])
    except TypeError:  # a character outside the alphabet (value None)
        return False


def uscc_valid(codes: Sequence[str]) -> list[bool]:
    """For each code, whether ``stdnum.cn.uscc.is_valid`` accepts it."""
    return [_uscc_ok(code) for code in codes]


# The shapes of stdnum 2.2's cn/loc.dat: a comment, a province (2 digits) or, indented under
# it, a county (4 more digits) whose text may carry the years it existed: "[1986-]房山区".
_LOC_SHAPE = re.compile(r'(?:(?:#[^\n]*|\d{2} province="[^"\n]*"|  \d{4} county="[^"\n]*")?\n)*')
_PROVINCE_LINE = re.compile(r'^(\d{2}) province="[^"\n]*"$', re.M)


@cache
def _loc() -> tuple[str, dict[str, list[tuple[int, int]]]] | None:
    """stdnum's region database as text, and the (start, end) of each province's block of
    county lines; None when the file is missing or has a shape not known here."""
    spec = importlib.util.find_spec("stdnum")  # locates the package without importing it
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "cn" / "loc.dat").read_text("utf-8")  # type: ignore[union-attr, arg-type]
    except (OSError, StopIteration, TypeError, AttributeError, UnicodeDecodeError):
        return None
    if not text.endswith("\n") or not _LOC_SHAPE.fullmatch(text):
        return None
    starts = [(m.group(1), m.end(), m.start()) for m in _PROVINCE_LINE.finditer(text)]
    blocks: dict[str, list[tuple[int, int]]] = {}
    for i, (province, start, _) in enumerate(starts):
        end = starts[i + 1][2] if i + 1 < len(starts) else len(text)
        blocks.setdefault(province, []).append((start, end))
    return text, blocks


def _county_text(region: str) -> str | None:
    """What ``numdb.get('cn/loc').info(region)`` gives as ``county``: the last county line of
    the region in any block of its province (stdnum merges them in file order)."""
    text, blocks = _loc()  # type: ignore[misc]
    key = f'\n  {region[2:]} county="'
    found = None
    for start, end in blocks.get(region[:2], ()):
        i = text.find(key, start, end)
        while i >= 0:
            found = text[i + len(key) : text.index('"', i + len(key))]
            i = text.find(key, i + 1, end)
    return found


def _stdnum_place_ok(region: str, year: int) -> bool:
    from stdnum import exceptions as stdnum_exc
    from stdnum.cn import ric

    try:
        ric.get_birth_place(f"{region}{year:04d}0101" + "0000")
    except (stdnum_exc.ValidationError, KeyError, IndexError, ValueError):
        return False
    return True


@lru_cache(maxsize=4096)
def _place_ok(region: str, year: int) -> bool:
    """stdnum's birth-place verdict, which depends on the region code and the birth year only
    (``stdnum.cn.ric.get_birth_place``, step by step)."""
    if _loc() is None:
        return _stdnum_place_ok(region, year)
    county = _county_text(region)
    if county is None:  # no such region: stdnum raises InvalidComponent (or KeyError)
        return False
    try:
        for name in county.split(","):
            if not name.startswith("["):
                return True
            startend, _ = name[1:].split("]")
            start, end = startend.split("-")
            if start and year < int(start):
                continue
            if end and year > int(end):
                continue
            return True
    except ValueError:  # a malformed year range: stdnum raises ValueError
        return False
    return False  # no county of that code existed in the birth year


def _check_digit(code: str) -> str:
    """``stdnum.cn.ric.calc_check_digit``."""
    checksum = (1 - 2 * int(code[:-1], 13)) % 11
    return "X" if checksum == 10 else str(checksum)


def ric_valid(code: str) -> bool:
    """Whether ``stdnum.cn.ric.is_valid`` accepts ``code`` (False where stdnum raises KeyError)."""
    if len(code) != 18 or not code[:17].isascii() or not code[:17].isdigit():
        return False
    if code[17] != _check_digit(code):
        return False
    try:
        year = datetime.date(int(code[6:10]), int(code[10:12]), int(code[12:14])).year
    except ValueError:
        return False
    return _place_ok(code[:6], year)
