"""Test data for the master workbook: a small factory building a real ``Consolidation``.

The values are made up but shaped like the consolidation's output: counts as int, 万元 as
floats rounded to 2, rates recomputed from sums, one status row per expected township, findings
with a county-level one (township_code ""), and a year-on-year table of indicators then rates.
"""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from nianbao.consolidate import Consolidation
from nianbao.schemas.indicators import INDICATORS, RATES

TOWNS = (
    ("419901100", "城关镇"),
    ("419901101", "东关街道"),
    ("419901102", "西关街道"),
    ("419901103", "柳林镇"),
    ("419901104", "杨庄镇"),
)
AS_OF = datetime(2026, 1, 15, 21, 30, 5)
DUE = date(2026, 1, 10)
# Magnitudes from the seeds for one township; everything else gets a small count.
BASE = {"A01": 287, "A02": 240, "A03": 200, "A07": 5000, "A08": 2100, "A10": 1626, "C01": 57, "C02": 38,
        "C03": 19, "C04": 50, "C05": 32, "C06": 30, "F03": 1317.31, "F04": 1500.0, "D04": 7.5}


def township_values(i: int) -> dict[str, float | int]:
    """Indicator values of the i-th township (0-based): different per township, parts ≤ wholes."""
    out: dict[str, float | int] = {}
    for j, ind in enumerate(INDICATORS):
        base = BASE.get(ind.code, j + 1)
        # Numerators grow slower than denominators, so township rates differ from each other.
        if ind.is_money:
            out[ind.code] = round(base * (1 + 0.25 * i) / 3 - (11.11 * i if ind.code == "F03" else 0), 2)
        else:
            out[ind.code] = int(base * (1 + 0.5 * i)) - (7 * i if ind.code in ("A03", "A10", "C04", "C06") else 0)
    return out


def _rates(values: dict) -> dict[str, float]:
    return {r.code: (values[r.numerator] / values[r.denominator] if values[r.denominator] else np.nan) for r in RATES}


def make_consolidation(
    *,
    reported: int = 3,
    late: tuple[str, ...] = ("419901102",),
    decisions: dict[str, tuple[str, str]] | None = None,
    received: dict[str, datetime] | None = None,
    as_of: datetime = AS_OF,
    period: str = "2025",
) -> Consolidation:
    """The first ``reported`` townships of TOWNS have an accepted return, the others none.

    ``decisions`` are the county decisions stored for townships (code -> (decision, reason));
    ``received`` overrides the time a township's file arrived.
    """
    decisions = decisions or {}
    received = received or {}
    rows = []
    for i, (code, name) in enumerate(TOWNS[:reported]):
        values = township_values(i)
        rows.append({"township_code": code, "township_name": name, **values, **_rates(values)})
    by_township = pd.DataFrame(rows, columns=["township_code", "township_name", *(i.code for i in INDICATORS),
                                              *(r.code for r in RATES)])
    totals = pd.Series(
        {ind.code: (round(float(by_township[ind.code].sum()), 2) if ind.is_money else int(by_township[ind.code].sum()))
         for ind in INDICATORS},
        dtype=object,
    )
    rates = pd.Series(_rates(totals.to_dict()), dtype="float64")

    status_rows = []
    for i, (code, name) in enumerate(TOWNS):
        got = i < reported
        when = received.get(code, datetime(2026, 1, 8 + i, 9, 30 + i)) if got else pd.NaT
        is_late = got and code in late
        decision, reason = decisions.get(code, ("", ""))
        status_rows.append({
            "township_code": code,
            "township_name": name,
            "received": got,
            "valid": got,
            "late": is_late,
            "last_received": when,
            "file_name": f"{name}2025年报.xlsx" if got else "",
            "status": "未报" if not got else ("退回" if decision == "退回" else "逾期" if is_late else "已报"),
            "findings_count": 2 if code == "419901100" else 0,
            "decision": decision,
            "reason": reason,
        })
    status = pd.DataFrame(status_rows)
    status["last_received"] = pd.to_datetime(status["last_received"])

    findings = pd.DataFrame(
        [
            ("419901100", "城关镇", "城关镇2025年报.xlsx", "error", "le.A08", "主要指标", "D12", "summary.A08",
             "「主要指标」D12【其中：女职工】填写了 5200，应不大于【职工人数】5000"),
            ("419901100", "城关镇", "城关镇2025年报.xlsx", "warning", "ledger.id", "困难职工帮扶台账", "B5",
             "ledger.0.id_number", "「困难职工帮扶台账」B5 身份证号 4101**********1234 校验位不对（GB 11643），请核对"),
            ("", "", "", "warning", "hist.yoy", None, None, "summary.A10",
             "「会员人数」全县2025年为 4,878人，2024年为 3,000人，同比变动 +62.6%，超过 ±30% 的提示阈值"),
        ],
        columns=["township_code", "township_name", "file_name", "severity", "code", "sheet", "cell", "field", "message"],
    )

    previous = {code: (v * 0.6 if code == "A10" else v * 0.95) for code, v in totals.items()}
    prev_rates = _rates(previous)
    yoy_rows = []
    for ind in INDICATORS:
        cur, prev = float(totals[ind.code]), float(previous[ind.code])
        yoy_rows.append((ind.code, ind.label, ind.unit, cur, prev, cur - prev, (cur - prev) / prev if prev else np.nan))
    for r in RATES:
        cur, prev = float(rates[r.code]), float(prev_rates[r.code])
        yoy_rows.append((r.code, r.label, "", cur, prev, cur - prev, (cur - prev) / prev if prev else np.nan))
    yoy = pd.DataFrame(yoy_rows, columns=["code", "label", "unit", "current", "previous", "change", "share"])
    yoy["flagged"] = yoy["share"].abs() > 0.3

    counts = status["status"].value_counts()
    return Consolidation(
        county_code="419901",
        county_name="清河县",
        period=period,
        as_of=as_of,
        totals=totals,
        rates=rates,
        by_township=by_township,
        status=status,
        findings=findings,
        yoy=yoy,
        previous_period=str(int(period[:4]) - 1) + period[4:],
        due=DUE,
        completeness=(counts.get("已报", 0) + counts.get("逾期", 0)) / len(TOWNS),
        timeliness=counts.get("已报", 0) / len(TOWNS),
        status_counts={k: int(v) for k, v in counts.items()},
    )


@pytest.fixture
def consolidation() -> Consolidation:
    return make_consolidation()


@pytest.fixture
def make():
    """``make(reported=..., decisions=..., received=..., as_of=...) -> Consolidation``."""
    return make_consolidation


@pytest.fixture
def factory() -> SimpleNamespace:
    """The factory and its constants for tests (``from conftest import`` is not reliable:
    every test folder has a module named conftest)."""
    return SimpleNamespace(make=make_consolidation, AS_OF=AS_OF, TOWNS=TOWNS, township_values=township_values)
