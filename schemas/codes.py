"""Fast checks of USCCs and ID numbers that agree with python-stdnum, the definition.

python-stdnum checks one code at a time in pure Python (``uscc.validate`` compacts the code
three times; ``ric.validate`` looks the region up in its number database on every call), which
was most of the rule time of a 300-row roster. These answer "valid or not" for a whole column:

* :func:`uscc_valid` computes every USCC's check character at once with numpy;
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

import numpy as np
from stdnum import exceptions as stdnum_exc
from stdnum.cn import ric

# GB 32100-2015, as in stdnum.cn.uscc
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array((1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28), dtype=np.int64)
_USCC_VALUE = np.full(256, -1, dtype=np.int64)  # ASCII byte -> value in the alphabet, -1 outside it
_USCC_VALUE[[ord(c) for c in _USCC_ALPHABET]] = np.arange(len(_USCC_ALPHABET))


def uscc_valid(codes: Sequence[str]) -> np.ndarray:
    """For each code, whether ``stdnum.cn.uscc.is_valid`` accepts it (a boolean array)."""
    ok = np.zeros(len(codes), dtype=bool)
    candidates = [i for i, code in enumerate(codes) if len(code) == 18 and code.isascii()]
    if not candidates:
        return ok
    raw = np.frombuffer("".join(codes[i] for i in candidates).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    values = _USCC_VALUE[raw]
    head = raw[:, :8]
    good = (values >= 0).all(axis=1) & ((head >= ord("0")) & (head <= ord("9"))).all(axis=1)
    check = (31 - (values[:, :17] * _USCC_WEIGHTS).sum(axis=1)) % 31
    ok[candidates] = good & (check == values[:, 17])
    return ok


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
