"""Template version and schema fingerprint, written into every template's hidden sheet.

The reader compares both with the running code: a return filled on an older template (a
different fingerprint) is reported as such instead of being misread.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from functools import cache

from nianbao.schemas.indicators import INDICATORS, RATES, SUMS
from nianbao.schemas.models import AidRow, Cover, LedgerRow, Notes, RosterRow, field_specs

TEMPLATE_VERSION = "2025.2"  # 2025.2: 情况说明 column on 主要指标


def _record(obj: object) -> dict:
    """``dataclasses.asdict(obj)`` for a dataclass of plain values (tuples of them included),
    without its recursive deep copy: the fingerprint of every ``nianbao validate`` start."""
    record = {f.name: getattr(obj, f.name) for f in fields(obj)}  # type: ignore[arg-type]
    if all(type(v) in _PLAIN or (type(v) is tuple and all(type(x) in _PLAIN for x in v)) for v in record.values()):
        return record
    return asdict(obj)  # type: ignore[call-overload]


_PLAIN = frozenset({str, int, float, bool, type(None)})


@cache
def schema_fingerprint() -> str:
    """A short hash of everything that decides where and how a value is typed."""
    payload = {
        "indicators": [_record(i) for i in INDICATORS],
        "rates": [_record(r) for r in RATES],
        "sums": SUMS,
        "cover": [_record(f) for f in field_specs(Cover)],
        "roster": [_record(f) for f in field_specs(RosterRow)],
        "ledger": [_record(f) for f in field_specs(LedgerRow)],
        "aid": [_record(f) for f in field_specs(AidRow)],
        "notes": [_record(f) for f in field_specs(Notes)],
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
