"""Sample returns: valid under every rule of the brief, deterministic, written through names."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook
from stdnum.cn import ric, uscc

from nianbao.schemas.county import load_county
from nianbao.schemas.indicators import INDICATORS, SUMS
from nianbao.schemas.models import Period, TownshipReturn
from nianbao.schemas.parse import build_return
from nianbao.schemas.rules import RuleContext, run_rules
from nianbao.workbooks import layout as L
from nianbao.workbooks.sample import (
    fill_template,
    fill_window,
    sample_return,
    save_as_ods,
    save_as_xls,
    write_sample_return,
)
from nianbao.workbooks.template import write_template

COUNTY = load_county()
CASES = [
    (COUNTY.townships[0], "2025", 0, 30, 12),
    (COUNTY.townships[7], "2024", 11, 300, 80),
    (COUNTY.townships[12], "2025H1", 5, 1, 0),
    (COUNTY.townships[17], "2025", 99, 120, 1),
]


@pytest.mark.parametrize("township, period, seed, roster_rows, ledger_rows", CASES)
def test_sample_satisfies_the_brief(township, period, seed, roster_rows, ledger_rows):
    values = sample_return(township, period, seed, roster_rows=roster_rows, ledger_rows=ledger_rows)
    ret = TownshipReturn.model_validate(values)
    s, p = ret.summary, Period(period)

    # every indicator filled, raw counts int, raw money float with at most 2 decimals
    for ind in INDICATORS:
        raw = values["summary"][ind.code]
        assert isinstance(raw, float if ind.is_money else int), ind.code
        assert getattr(s, ind.code) is not None
        if ind.is_money:
            assert Decimal(str(raw)) == Decimal(str(raw)).quantize(Decimal("0.01"))
        if ind.part_of:
            assert getattr(s, ind.code) <= getattr(s, ind.part_of), ind.code
    for total, parts in SUMS:
        assert sum(getattr(s, x) for x in parts) == getattr(s, total)
    assert s.A03 <= s.A02 <= s.A01

    roster = ret.roster
    assert len(roster) == roster_rows
    assert len({r.uscc for r in roster}) == len(roster)
    for r in roster:
        assert uscc.is_valid(r.uscc)
        assert r.female_employees <= r.employees and r.migrant_employees <= r.employees and r.members <= r.employees
        assert (r.union_year is not None) == r.has_union
        if r.union_year is not None:
            assert 1950 <= r.union_year <= p.year
        assert (r.dues_amount is not None) == r.pays_dues
    assert s.A03 == sum(r.has_union for r in roster)
    assert s.A07 == sum(r.employees for r in roster)
    assert s.A08 == sum(r.female_employees for r in roster)
    assert s.A09 == sum(r.migrant_employees for r in roster)
    assert s.A10 == sum(r.members for r in roster)
    assert s.F01 == sum(r.pays_dues for r in roster)
    assert s.F03 == sum((r.dues_amount for r in roster if r.pays_dues), Decimal(0))

    ledger = ret.ledger
    assert s.D03 == len(ledger) == ledger_rows
    for row in ledger:
        assert ric.is_valid(row.id_number) and len(row.id_number) == 18
        assert p.first_day <= row.aid_date <= p.last_day
        assert row.amount > 0 and row.amount == row.amount.quantize(Decimal("0.01"))
    assert round(sum((r.amount for r in ledger), Decimal(0)) / 10000, 2) == s.D04

    cover = ret.cover
    assert (cover.township_code, cover.township_name, cover.period) == (township.code, township.name, period)
    assert cover.filler and cover.head and cover.phone
    first, last = fill_window(period)
    assert first <= cover.fill_date <= last


@pytest.mark.parametrize("township, period, seed, roster_rows, ledger_rows", CASES)
def test_sample_passes_the_real_rules(township, period, seed, roster_rows, ledger_rows):
    values = sample_return(township, period, seed, roster_rows=roster_rows, ledger_rows=ledger_rows)
    ret, cell_findings = build_return(values["cover"], values["summary"], values["roster"], values["ledger"])
    ctx = RuleContext(period=period, county=COUNTY, today=date(2026, 11, 21))
    findings = [*cell_findings, *run_rules(ret, ctx)]
    assert findings == []


def test_deterministic_per_seed():
    t = COUNTY.townships[2]
    assert sample_return(t, "2025", 4) == sample_return(t, "2025", 4)
    assert sample_return(t, "2025", 4) != sample_return(t, "2025", 5)


def test_townships_do_not_share_units():
    codes = [{r["uscc"] for r in sample_return(t, "2025", 0, roster_rows=100)["roster"]} for t in COUNTY.townships]
    assert sum(map(len, codes)) == len(set().union(*codes)) == 100 * len(COUNTY.townships)


def test_consecutive_periods_compare_like_real_years():
    """The same seed keeps the township's units and size, so a year-on-year check stays quiet."""
    t = COUNTY.townships[9]
    last, this = sample_return(t, "2024", 3, roster_rows=200), sample_return(t, "2025", 3, roster_rows=200)
    assert [r["uscc"] for r in last["roster"]] == [r["uscc"] for r in this["roster"]]
    for ind in INDICATORS:
        before, now = last["summary"][ind.code], this["summary"][ind.code]
        if before >= 20:
            assert abs(now - before) / before <= COUNTY.yoy_threshold, (ind.code, before, now)


def test_fill_template_writes_through_defined_names(tmp_path):
    t = COUNTY.townships[1]
    template = write_template(tmp_path / "t.xlsx", t, "2025")
    values = sample_return(t, "2025", 1)
    out = fill_template(template, values, tmp_path / "filled.xlsx")
    wb = load_workbook(out)
    for name, dn in wb.defined_names.items():
        ref = L.Ref.parse(dn.attr_text)
        ws = wb[ref.sheet]
        if name.startswith("NB_COVER_"):
            assert _loaded(ws.cell(ref.row, ref.col).value) == values["cover"][name.removeprefix("NB_COVER_")]
        elif name == L.AID.range_name:  # a township's return leaves 帮扶汇总 blank
            assert values["aid"] == [] and ws.cell(ref.row, ref.col).value is None
        elif name in (L.ROSTER.range_name, L.LEDGER.range_name):
            key = L.ROSTER.key if name == L.ROSTER.range_name else L.LEDGER.key
            first = values[key][0]
            assert [_loaded(ws.cell(ref.row, c).value) for c in range(ref.col, ref.last_col + 1)] == list(first.values())
            assert ws.cell(ref.row + len(values[key]), ref.col).value is None
        elif name.startswith("NB_NOTE_"):
            assert ws.cell(ref.row, ref.col).value is None  # sample returns explain nothing
        else:
            assert ws.cell(ref.row, ref.col).value == values["summary"][name.removeprefix("NB_")]




def _loaded(value):
    """openpyxl reads a date cell back as a midnight datetime."""
    return value.date() if isinstance(value, datetime) else value


def test_fill_template_refuses_more_rows_than_the_table_holds(tmp_path):
    t = COUNTY.townships[1]
    template = write_template(tmp_path / "t.xlsx", t, "2025")
    values = sample_return(t, "2025", 1, ledger_rows=L.LEDGER.capacity + 1)
    with pytest.raises(ValueError, match="最多"):
        fill_template(template, values, tmp_path / "x.xlsx")


def _dump(path) -> dict[str, list[list]]:
    book = CalamineWorkbook.from_path(path)
    out = {}
    for name in book.sheet_names:
        rows = [list(r) for r in book.get_sheet_by_name(name).to_python(skip_empty_area=False)]
        for r in rows:
            while r and r[-1] == "":
                r.pop()
        while rows and not rows[-1]:
            rows.pop()
        out[name] = rows
    return out


@pytest.mark.parametrize("save, suffix", [(save_as_xls, ".xls"), (save_as_ods, ".ods")])
def test_other_formats_keep_sheets_and_positions(tmp_path, save, suffix):
    t = COUNTY.townships[4]
    xlsx = write_sample_return(tmp_path / "r.xlsx", t, "2025", 8)
    other = save(xlsx, tmp_path / f"r{suffix}")
    book = CalamineWorkbook.from_path(other)
    assert book.sheet_names == list(L.SHEET_ORDER)
    assert str(book.sheets_metadata[-1].visible).endswith("Hidden")
    assert _dump(other) == _dump(xlsx)
