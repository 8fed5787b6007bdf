"""Outliers, changes between publishes, lineage text safety and the paragraph's phrasing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nianbao.changes import Changes, compare
from nianbao.lineage import neutral
from nianbao.narrative import rate_phrase, yoy_phrase
from nianbao.outliers import clean_note, explain_county_yoy, find_outliers, robust_z
from nianbao.schemas.county import load_county
from nianbao.schemas.findings import warning
from nianbao.schemas.indicators import COMPARABLE, INDICATORS

CODES = [f"4199011{i:02d}" for i in range(8)]
NAMES = {c: f"乡镇{i}" for i, c in enumerate(CODES)}


def frame(**columns) -> pd.DataFrame:
    values = pd.DataFrame({i.code: [10] * len(CODES) for i in INDICATORS}, index=CODES, dtype="float64")
    for code, col in columns.items():
        values[code] = col
    return values


# --- outliers ----------------------------------------------------------------------------------


def test_robust_z_is_not_dragged_by_the_outlier_itself():
    x = pd.Series([0.80, 0.82, 0.79, 0.81, 0.83, 0.80, 0.78, 0.20])
    z = robust_z(x)
    assert z.iloc[-1] < -20 and z.iloc[:-1].abs().max() < 2
    # a plain z-score would barely see it: the outlier inflates the standard deviation
    assert abs((x.iloc[-1] - x.mean()) / x.std()) < 3


def test_robust_z_needs_enough_townships_and_survives_a_zero_mad():
    assert robust_z(pd.Series([1.0, 1.0, 9.0])).isna().all()
    z = robust_z(pd.Series([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0]))  # MAD 0: mean deviation stands in
    assert np.isfinite(z).all() and z.iloc[-1] > 3.5 and (z.iloc[:-1] == 0).all()


def test_an_outlier_is_a_chinese_warning_explained_by_the_note_beside_its_operands():
    members = [800, 820, 790, 810, 830, 800, 780, 200]
    values = frame(A07=[1000] * 8, A10=members)
    found = find_outliers(values, NAMES, 3.5, {})
    flagged = [(code, f) for code, f in found if f.label == "入会率"]
    assert [code for code, _ in flagged] == [CODES[-1]]
    f = flagged[0][1]
    assert f.code == "county.outlier" and f.field == "summary.A10" and f.note is None
    assert "乡镇7的「入会率」为 20.0%" in f.message and "中位数为 80.0%" in f.message and "偏低" in f.message
    assert "【会员人数】200人 ÷ 【职工人数】1,000人" in f.message and "情况说明" in f.message
    explained = find_outliers(values, NAMES, 3.5, {(CODES[-1], "A07"): "新设工业园区，职工尚未入会"})
    assert [f.note for _, f in explained if f.label == "入会率"] == ["新设工业园区，职工尚未入会"]
    assert not [f for _, f in find_outliers(values, NAMES, 50, {}) if f.label == "入会率"]  # the county's threshold


def test_a_note_never_carries_an_id_number():
    assert clean_note("困难职工 410102199001011234 因病") == "困难职工 4101**********1234 因病"
    assert clean_note("  ") is None and clean_note(None) is None


def test_a_county_yoy_warning_is_explained_by_townships_notes_on_its_indicator():
    f = warning("hist.yoy", "同比变动 +50%", field="summary.D06")
    assert explain_county_yoy(f, {}, NAMES).note is None
    noted = explain_county_yoy(f, {(CODES[1], "D06"): "集中发放", (CODES[2], "D05"): "别的"}, NAMES)
    assert noted.note == "乡镇1：集中发放"


def test_outlier_threshold_is_optional_in_the_county_config(tmp_path: Path):
    text = Path(load_county.__defaults__[0]).read_text(encoding="utf-8")
    old = tmp_path / "old.toml"
    old.write_text("\n".join(l for l in text.splitlines() if not l.startswith("outlier_threshold")), encoding="utf-8")
    assert load_county(old).outlier_threshold == 3.5  # a config from before the key still loads
    assert {r.code for r in COMPARABLE} >= {"R02", "P01", "P02"}


# --- changes -----------------------------------------------------------------------------------


def snap(as_of: str, towns: dict, totals: dict | None = None, due: str | None = "2026-01-15") -> dict:
    return {"as_of": as_of, "due": due, "totals": totals or {}, "townships": towns}


def town(status: str, sha: str | None = None, values: dict | None = None, file: str = "a.xlsx") -> dict:
    current = {"file": file, "received": "2026-01-05 08:00", "sha256": sha} if sha else None
    return {"name": "城关镇", "status": status, "latest_file": file, "latest_received": None, "current": current, "values": values or {}}


def test_first_publish_and_nothing_changed_are_one_line():
    now = snap("2026-01-10 02:00", {"1": town("已报", "aa", {"A07": 5})}, {"A07": 5})
    assert compare(None, now).line() == "本报告期首次汇总发布，没有上次发布可比较"
    same = compare(now, {**now, "as_of": "2026-01-11 02:00"})
    assert same.empty and same.line() == "与上次发布（2026-01-10 02:00）相比没有变化"


def test_a_correction_its_figures_a_return_sent_back_and_lateness():
    before = snap("2026-01-14 02:00", {
        "1": town("已报", "aa", {"A07": 5}),
        "2": town("已报", "bb", {"A07": 7}),
        "3": town("未报"),
    }, {"A07": 12})
    after = snap("2026-01-16 02:00", {
        "1": town("已报", "cc", {"A07": 6}, file="a（更正）.xlsx"),
        "2": town("退回", "bb", {"A07": 7}),
        "3": town("未报"),
    }, {"A07": 13})
    ch = compare(before, after)
    assert [(r.township_code, r.kind) for r in ch.returns] == [("1", "更正替换"), ("2", "退回")]
    assert "「a（更正）.xlsx」" in ch.returns[0].detail and "替换了「a.xlsx」" in ch.returns[0].detail
    assert [(f.township_code, f.code, f.old, f.new) for f in ch.figures] == [("", "A07", 12, 13), ("1", "A07", 5, 6)]
    assert [(l.township_code, "2026-01-15" in l.detail) for l in ch.late] == [("3", True)]
    assert ch.line() == ("与上次发布（2026-01-14 02:00）相比：新报送 0 个、更正替换 1 个、退回 1 个；"
                         "全县合计变动 1 项、乡镇数字变动 1 处；新增逾期 1 个")


# --- text from files in outputs, and phrasing ----------------------------------------------------


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)"])
def test_text_from_files_never_becomes_a_formula(text):
    assert neutral(text) == "'" + text
    assert neutral("城关镇.xlsx") == "城关镇.xlsx" and neutral(None) is None


def test_year_on_year_phrases():
    assert yoy_phrase(12, 0.034, 350, "家") == "比上年增加12家，增长3.4%"
    assert yoy_phrase(-1.5, -0.1, 15, "万元") == "比上年减少1.50万元，下降10.0%"
    assert yoy_phrase(0, 0.0, 10, "人") == "与上年持平"
    assert yoy_phrase(5, np.nan, 0, "人") == "比上年增加5人"  # no share of a zero
    assert yoy_phrase(np.nan, np.nan, np.nan, "人") == ""
    assert rate_phrase(0.026) == "比上年提高2.6个百分点" and rate_phrase(-0.012) == "比上年降低1.2个百分点"
    assert rate_phrase(0.0001) == "与上年持平" and Changes(None).first
