"""The schema fingerprint is the one every template already sent out carries."""

import hashlib
import json
from dataclasses import asdict

from nianbao.schemas.indicators import INDICATORS, RATES, SUMS
from nianbao.schemas.models import AidRow, Cover, LedgerRow, Notes, RosterRow, field_specs
from nianbao.schemas.version import schema_fingerprint


def test_fingerprint_equals_the_asdict_computation():
    payload = {
        "indicators": [asdict(i) for i in INDICATORS],
        "rates": [asdict(r) for r in RATES],
        "sums": SUMS,
        **{key: [asdict(f) for f in field_specs(m)] for key, m in (("cover", Cover), ("roster", RosterRow), ("ledger", LedgerRow), ("aid", AidRow), ("notes", Notes))},
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()
    assert schema_fingerprint() == hashlib.sha256(blob).hexdigest()[:16]
