"""Fast checks of USCCs and ID numbers that agree with python-stdnum, the definition.

python-stdnum checks one code at a time in pure Python (``uscc.validate`` compacts the code
three times; ``ric.validate`` looks the region up in its number database on every call), which
was most of the rule time of a 300-row roster. These answer "valid or not" for a whole column:

* :func:`uscc_valid` computes the check character with a lookup table (300 codes: 2.1 ms
  against stdnum's 11 ms on the busy benchmark machine; numpy took 0.3 ms, but importing it
  costs ``nianbao validate`` some 60 ms of its 250 ms budget, and the worker processes
  nothing else needs numpy for);
* :func:`ric_valid` runs stdnum's own checks but remembers the region verdict per
  (region code, birth year), the only expensive part.

Both only ever *accept* what stdnum accepts (``tests/schemas/test_codes.py`` checks agreement
with hypothesis); a code they reject goes to stdnum, which says why (see ``nianbao.schemas.rules``).
Codes are expected as ``nianbao.schemas.coerce.to_code`` gives them: upper case, no separators.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from functools import lru_cache

from stdnum import exceptions as stdnum_exc
from stdnum.cn import ric

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
        total = sum(value(c) * w for c, w in zip(code, _USCC_WEIGHTS))
        return (31 - total) % 31 == value(code[17])
    except TypeError:  # a character outside the alphabet (value None)
        return False


def uscc_valid(codes: Sequence[str]) -> list[bool]:
    """For each code, whether ``stdnum.cn.uscc.is_valid`` accepts it."""
    return [_uscc_ok(code) for code in codes]


@lru_cache(maxsize=4096)
def _place_ok(region: str, year: int) -> bool:
    """stdnum's birth-place verdict, which depends on the region code and the birth year only."""
    try:
        ric.get_birth_place(f"{region}{year:04d}0101" + "0000")
    except (stdnum_exc.ValidationError, KeyError, IndexError, ValueError):
        return False
    return True


def ric_valid(code: str) -> bool:
    """Whether ``stdnum.cn.ric.is_valid`` accepts ``code`` (False where stdnum raises KeyError)."""
    if len(code) != 18 or not code[:17].isascii() or not code[:17].isdigit():
        return False
    if code[17] != ric.calc_check_digit(code):
        return False
    try:
        year = datetime.date(int(code[6:10]), int(code[10:12]), int(code[12:14])).year
    except ValueError:
        return False
    return _place_ok(code[:6], year)
