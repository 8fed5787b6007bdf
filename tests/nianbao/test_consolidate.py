"""Consolidation over a real store (SQLite file and PostgreSQL server), fed with schema models built in code (no Excel)."""

import hashlib
import math
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from nianbao.consolidate import (
    CURRENT_COLUMNS,
    FINDINGS_OUT_COLUMNS,
    INDICATOR_CODES,
    LOCAL_TZ,
    RATE_CODES,
    STATUS_COLUMNS,
    YOY_COLUMNS,
    Inputs,
    consolidate,
)
from nianbao.store import open_store
from nianbao.schemas.county import CountyConfig, load_county
from nianbao.schemas.findings import Report, error, warning
from nianbao.schemas.indicators import INDICATORS
from nianbao.schemas.models import Cover, RosterRow, Summary, TownshipReturn

CONFIG = load_county()  # demo county: 18 townships, 2025 due 2026-01-15, threshold 30%
T = [t.code for t in CONFIG.townships]
NAMES = {t.code: t.name for t in CONFIG.townships}
ON_TIME = datetime(2026, 1, 10, 9, 0, tzinfo=LOCAL_TZ)
AS_OF = datetime(2026, 2, 1, 2, 0, tzinfo=timezone.utc)


def base_values(**values):
    """Every indicator filled with 10 (counts) or 1.00 (万元), then the given overrides."""
    return {i.code: Decimal("1.00") if i.is_money else 10 for i in INDICATORS} | values


def submit(store, code, period="2025", at=ON_TIME, findings=(), units=(), tag="", **values):
    ret = TownshipReturn(
        cover=Cover(township_code=code, township_name=NAMES.get(code, "外乡"), period=period),
        summary=Summary(**base_values(**values)),
        roster=[RosterRow(name=n, uscc=u) for n, u in units],
    )
    name = f"{code}_{period}{tag}.xlsx"
    report = Report(file=name, township=code, period=period, findings=list(findings))
    sha = hashlib.sha256(f"{name}{at}{values}{findings}".encode()).hexdigest()
    return store.record(report, ret, sha256=sha, size=100, file_name=name, source=f"/inbox/{name}", received_at=at)


@pytest.fixture
def store(db_url):
    s = open_store(db_url)  # a real SQLite file, then a real PostgreSQL database
    yield s
    s.close()


def run(store, period="2025", config=CONFIG):
    return consolidate(config, store.load_inputs(period), AS_OF)


def test_totals_are_the_sums_of_the_current_returns_only(store):
    submit(store, T[0], A07=100, F03=Decimal("1317.31"))
    submit(store, T[0], at=ON_TIME + timedelta(days=1), tag="v2", A07=120, F03=Decimal("0.10"))  # supersedes
    submit(store, T[1], A07=30, F03=Decimal("0.20"))
    submit(store, T[1], at=ON_TIME + timedelta(days=2), tag="bad", A07=9999, findings=[error("x", "错")])  # rejected
    submit(store, T[2], period="2024", A07=5000)  # another period

    c = run(store)

    assert c.totals["A07"] == 150 and isinstance(c.totals["A07"], int)
    assert c.totals["F03"] == 0.30 and isinstance(c.totals["F03"], float)  # summed in 分, exact
    assert c.totals["A01"] == 20
    assert list(c.totals.index) == list(INDICATOR_CODES)
    assert list(c.by_township["township_code"]) == [T[0], T[1]]
    assert list(c.by_township.columns) == ["township_code", "township_name", *INDICATOR_CODES, *RATE_CODES]
    assert c.by_township.set_index("township_code").loc[T[0], "A07"] == 120
    for code in INDICATOR_CODES:
        assert math.isclose(float(c.by_township[code].sum()), float(c.totals[code]), abs_tol=1e-9), code


def test_rates_come_from_sums_not_averages(store):
    submit(store, T[0], A02=1, A03=1)  # 100%
    submit(store, T[1], A02=9, A03=1)  # 11.1%
    submit(store, T[2], C05=0, C06=0)  # no denominator: NaN, not 0 and not an error

    c = run(store)

    per = c.by_township.set_index("township_code")
    assert per.loc[T[0], "R01"] == 1.0
    assert per.loc[T[1], "R01"] == pytest.approx(1 / 9)
    assert np.isnan(per.loc[T[2], "R04"])
    # The county rate is (1+1+10)/(1+9+10), not the mean of the township rates.
    assert c.rates["R01"] == pytest.approx(12 / 20)
    assert c.rates["R01"] != pytest.approx(per["R01"].mean())
    assert list(c.rates.index) == list(RATE_CODES)


def test_money_sums_exactly_over_many_returns():
    n = 2000
    frame = pd.DataFrame({"township_code": [f"419901{i:06d}" for i in range(n)], "submission_id": range(n)})
    for code in INDICATOR_CODES:
        frame[code] = 0.1 if code == "F03" else 1
    config = CountyConfig(
        county_code="419901", county_name="测试县",
        townships=[{"code": c, "name": f"乡{c[-4:]}"} for c in frame["township_code"]],
        periods=[{"period": "2025", "due": date(2026, 1, 15)}],
    )
    inputs = Inputs.empty("2025")
    inputs = Inputs(**{**inputs.__dict__, "current": frame.reindex(columns=list(CURRENT_COLUMNS))})
    started = time.perf_counter()
    c = consolidate(config, inputs, AS_OF)
    elapsed = time.perf_counter() - started
    assert c.totals["F03"] == 200.0  # float sum of 0.1 x 2000 would be 200.00000000000003
    assert c.totals["A07"] == n
    assert elapsed < 5, f"consolidating {n} returns took {elapsed:.2f}s"


def test_year_on_year_flags_changes_over_the_threshold_only(store):
    for code in T[:2]:
        submit(store, code, period="2024", A10=100, A07=100)
        submit(store, code, period="2025", A10=140, A07=120)  # +40% flagged, +20% not
    submit(store, T[2], period="2025", A10=100000)  # no 2024 return: not in the 同口径 basis

    c = run(store)

    yoy = c.yoy.set_index("code")
    assert list(c.yoy.columns) == list(YOY_COLUMNS)
    assert list(yoy.index) == [*INDICATOR_CODES, *RATE_CODES]
    assert c.previous_period == "2024" and c.yoy_townships == 2
    assert yoy.loc["A10", ["current", "previous"]].tolist() == [280, 200]
    assert yoy.loc["A10", "share"] == pytest.approx(0.4) and yoy.loc["A10", "flagged"]
    assert yoy.loc["A07", "share"] == pytest.approx(0.2) and not yoy.loc["A07", "flagged"]
    assert yoy.loc["A01", "change"] == 0 and not yoy.loc["A01", "flagged"]
    assert yoy.loc["R02", "current"] == pytest.approx(280 / 240) and yoy.loc["R02", "previous"] == 1.0
    hist = c.findings[c.findings["code"] == "hist.yoy"]
    assert set(hist["severity"]) == {"warning"}
    a10 = hist[hist["field"] == "summary.A10"]["message"].item()
    for part in ("会员人数", "280人", "200人", "+40.0%", "30%"):
        assert part in a10, a10
    assert not (hist["field"] == "summary.A07").any()
    assert (hist["township_code"] == "").all()


def test_without_a_previous_period_nothing_is_flagged(store):
    submit(store, T[0], A10=140)
    c = run(store)
    assert c.yoy_townships == 0
    assert c.yoy["previous"].isna().all() and not c.yoy["flagged"].any()
    assert c.yoy.set_index("code").loc["A10", "current"] == 140


def test_a_unit_in_two_townships_rosters_is_a_county_warning(store):
    shared = "91410100MA44XXXX1K"
    submit(store, T[0], units=[("甲公司", shared), ("乙公司", "91410100MA44YYYY2L")])
    submit(store, T[1], units=[("丙公司", "91410100MA44ZZZZ3M"), ("甲有限公司", shared)])
    submit(store, T[2], units=[("丁公司", "91410100MA44WWWW4N"), ("丁公司", "91410100MA44WWWW4N")])  # township's own duplicate: not county-level
    c = run(store)
    dup = c.findings[c.findings["code"] == "county.dup_unit"]
    assert len(dup) == 1
    row = dup.iloc[0]
    assert row["severity"] == "warning" and row["township_code"] == ""
    for part in (shared, "甲公司", NAMES[T[0]], NAMES[T[1]], T[0], T[1], "第1条", "第2条"):
        assert part in row["message"], row["message"]


def test_unit_of_a_superseded_return_is_not_a_duplicate(store):
    shared = "91410100MA44XXXX1K"
    submit(store, T[0], units=[("甲公司", shared)])
    submit(store, T[1], units=[("甲公司", shared)])
    submit(store, T[1], at=ON_TIME + timedelta(hours=1), tag="v2", units=[("丙公司", "91410100MA44ZZZZ3M")])
    assert not (run(store).findings["code"] == "county.dup_unit").any()


def test_each_status_is_produced(store):
    due = CONFIG.period("2025").due
    submit(store, T[0])  # 已报
    submit(store, T[1], at=datetime(2026, 1, 15, 23, 30, tzinfo=LOCAL_TZ))  # due day, Beijing time: on time
    submit(store, T[2], at=datetime(2026, 1, 16, 0, 30, tzinfo=LOCAL_TZ))  # 逾期
    submit(store, T[3], findings=[error("le.A08", "「主要指标」D12 女职工 120 人大于职工 100 人")])  # 退回 by validation
    submit(store, T[4])
    store.record_decision(T[4], "2025", "退回", "职工人数与去年差距过大，请核实", by="县总工会张三",
                          at=ON_TIME + timedelta(days=1))  # 退回 by the county
    submit(store, T[5])
    store.record_decision(T[5], "2025", "退回", "请补充名册", by="张三", at=ON_TIME + timedelta(days=1))
    submit(store, T[5], at=ON_TIME + timedelta(days=2), tag="v2")  # resubmitted after the decision
    submit(store, T[6], findings=[warning("hist.note", "提示")])
    store.record_decision(T[6], "2025", "通过", by="张三", at=ON_TIME + timedelta(days=1))
    # T[7:] sent nothing: 未报

    c = run(store)

    st = c.status.set_index("township_code")
    assert list(c.status.columns) == list(STATUS_COLUMNS)
    assert list(c.status["township_code"]) == T
    assert st.loc[T[0], "status"] == "已报" and not st.loc[T[0], "late"]
    assert st.loc[T[1], "status"] == "已报"
    assert st.loc[T[2], "status"] == "逾期" and st.loc[T[2], "late"] and st.loc[T[2], "valid"]
    assert st.loc[T[3], "status"] == "退回" and not st.loc[T[3], "valid"] and st.loc[T[3], "findings_count"] == 1
    assert st.loc[T[4], ["status", "decision", "reason"]].tolist() == ["退回", "退回", "职工人数与去年差距过大，请核实"]
    assert st.loc[T[5], ["status", "decision"]].tolist() == ["已报", ""]
    assert st.loc[T[5], "file_name"] == f"{T[5]}_2025v2.xlsx"
    assert st.loc[T[6], ["status", "decision"]].tolist() == ["已报", "通过"]
    assert (st.loc[T[7:], "status"] == "未报").all() and not st.loc[T[7:], "received"].any()
    assert pd.isna(st.loc[T[7], "last_received"]) and st.loc[T[7], "file_name"] == ""
    assert st.loc[T[0], "last_received"] == pd.Timestamp("2026-01-10 09:00")  # Beijing wall-clock
    assert c.due == due
    assert c.status_counts == {"已报": 4, "未报": 11, "逾期": 1, "退回": 2}
    assert c.completeness == pytest.approx(5 / 18) and c.timeliness == pytest.approx(4 / 18)
    assert c.run_counts() == {"expected": 18, "received": 7, "valid": 5, "on_time": 4, "late": 1,
                              "sent_back": 2, "missing": 11, "findings": len(c.findings)}
    # A county 退回 does not take the valid return out of the totals; a validation 退回 has none.
    assert set(c.by_township["township_code"]) == set(T[:3] + T[4:7])


def test_findings_table_lists_latest_submissions_and_county_findings(store):
    submit(store, T[1], findings=[warning("old", "旧文件的提示")])
    submit(store, T[1], at=ON_TIME + timedelta(days=1), tag="v2",
           findings=[error("le.A08", "女职工大于职工", sheet="主要指标", cell="D12", field="summary.A08")])
    submit(store, T[0], findings=[warning("w", "提示一")])
    submit(store, "419901999", findings=[warning("w", "外乡")])  # not in the county config
    c = run(store)
    f = c.findings
    assert list(f.columns) == list(FINDINGS_OUT_COLUMNS)
    assert f["township_code"].tolist()[:2] == [T[0], T[1]]  # config order
    row = f[f["township_code"] == T[1]].iloc[0]
    assert row[["township_name", "file_name", "severity", "code", "sheet", "cell", "field"]].tolist() == [
        NAMES[T[1]], f"{T[1]}_2025v2.xlsx", "error", "le.A08", "主要指标", "D12", "summary.A08"]
    assert "old" not in set(f["code"])
    unknown = f[f["code"] == "county.unknown_township"]
    assert len(unknown) == 1 and "419901999" in unknown["message"].item() and unknown["township_code"].item() == ""
    assert "419901999" not in set(c.by_township["township_code"])
    assert c.totals["A07"] == 20  # the foreign township is not counted


def test_period_without_due_date_is_never_late_and_says_so(store):
    submit(store, T[0], period="2023")
    c = run(store, "2023")
    assert c.due is None and c.status.set_index("township_code").loc[T[0], "status"] == "已报"
    assert (c.findings["code"] == "county.no_due_date").any()


def test_nothing_received_is_all_missing():
    c = consolidate(CONFIG, Inputs.empty("2025"), datetime(2026, 2, 1, 10, 0))
    assert (c.status["status"] == "未报").all() and c.completeness == 0
    assert c.by_township.empty and (c.totals == 0).all() and c.rates.isna().all()
    assert c.as_of == datetime(2026, 2, 1, 10, 0) and c.county_name == "清河县" and c.period == "2025"
