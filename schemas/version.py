"""Template version and schema fingerprint, written into every template's hidden sheet.

The reader compares both with the running code: a return filled on an older template (a
different fingerprint) is reported as such instead of being misread.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from functools import cache

from nianbao.schemas.indicators import INDICATORS, RATES, SUMS
from nianbao.schemas.models import AidRow, Cover, LedgerRow, Notes, RosterRow, field_specs

TEMPLATE_VERSION = "2025.2"  # 2025.2: 情况说明 column on 主要指标


@cache
def schema_fingerprint() -> str:
    """A short hash of everything that decides where and how a value is typed."""
    payload = {
        "indicators": [asdict(i) for i in INDICATORS],
        "rates": [asdict(r) for r in RATES],
        "sums": SUMS,
        "cover": [asdict(f) for f in field_specs(Cover)],
        "roster": [asdict(f) for f in field_specs(RosterRow)],
        "ledger": [asdict(f) for f in field_specs(LedgerRow)],
        "aid": [asdict(f) for f in field_specs(AidRow)],
        "notes": [asdict(f) for f in field_specs(Notes)],
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
