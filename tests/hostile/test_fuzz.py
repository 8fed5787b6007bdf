"""Property: whatever values land in a valid return's input cells — numbers of any size, NaN
and infinities, text with control characters, formulas, Excel error values, very long text,
ID-like strings — validation never raises, and every finding has a Chinese message, a sheet
and a cell."""

from __future__ import annotations

import copy
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nianbao.schemas.coerce import EXCEL_ERRORS, ExcelError, FormulaWithoutValue
from nianbao.schemas.county import load_county
from nianbao.validate import check_file, check_raw
from nianbao.workbooks.reader import read_return
from nianbao.workbooks.sample import fill_workbook, sample_return
from nianbao.workbooks.template import build_template

PERIOD = "2025"
COUNTY = load_county()
TOWN = COUNTY.townships[0]

numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x3000), max_size=200),
    st.text(min_size=2000, max_size=6000),
    st.from_regex(r"[=+\-@\t\r][A-Z]{1,5}\(?[0-9A-Z:,+\-]{0,20}\)?", fullmatch=True),
    st.from_regex(r"\d{17}[\dXx]", fullmatch=True),
    st.from_regex(r"[\d ]{0,20}(年|万元|人|个|家)?", fullmatch=True),
    st.sampled_from(["NaN", "inf", "-inf", "1e308", "1e400", "-0", "１２", "1,317.31", "2025年", "2025H3", "√"]),
)
values = st.one_of(
    numbers,
    texts,
    st.sampled_from(sorted(EXCEL_ERRORS)).map(ExcelError),
    texts.map(lambda t: FormulaWithoutValue("=" + t)),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1)),
    st.datetimes(min_value=datetime(1, 1, 1)),
    st.none(),
)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "ok.xlsx"
    fill_workbook(build_template(TOWN, PERIOD), sample_return(TOWN, PERIOD, seed=3, roster_rows=5, ledger_rows=3)).save(path)
    return read_return(path)


def _places(raw):
    places = [("cover", k) for k in raw.cover] + [("summary", k) for k in raw.summary]
    places += [("roster", i, k) for i, row in enumerate(raw.roster) for k in row]
    places += [("ledger", i, k) for i, row in enumerate(raw.ledger) for k in row]
    return places


def _assert_findings_placed(report):
    for f in report.findings:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in f.message), f
        assert f.sheet, f
        assert f.cell or f.field in ("roster", "ledger", "summary", "cover"), f


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_values_in_inputs_never_raise_and_every_finding_is_placed(raw, data):
    mutated = copy.copy(raw)
    mutated.cover, mutated.summary = dict(raw.cover), dict(raw.summary)
    mutated.roster, mutated.ledger = [dict(r) for r in raw.roster], [dict(r) for r in raw.ledger]
    places = _places(raw)
    for place in data.draw(st.lists(st.sampled_from(places), min_size=1, max_size=8)):
        value = data.draw(values)
        if place[0] in ("cover", "summary"):
            getattr(mutated, place[0])[place[1]] = value
        else:
            getattr(mutated, place[0])[place[1]][place[2]] = value
    checked = check_raw(mutated, name="随机.xlsx", period=PERIOD, county=COUNTY)
    assert not any(f.code == "file.internal" for f in checked.report.findings)
    _assert_findings_placed(checked.report)


cell_values = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300),
    st.from_regex(r"[=+\-@][A-Z0-9(),:+\-]{0,20}", fullmatch=True),
    st.from_regex(r"\d{17}[\dX]", fullmatch=True),
    st.sampled_from(sorted(EXCEL_ERRORS)),
    st.dates(min_value=date(1900, 3, 1)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_values_through_a_real_file(tmp_path_factory, data):
    """The same through a real .xlsx written by openpyxl and read by calamine (fewer examples:
    each builds a workbook)."""
    base = sample_return(TOWN, PERIOD, seed=3, roster_rows=5, ledger_rows=3)
    vals = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 6))):
        section = data.draw(st.sampled_from(["cover", "summary", "roster", "ledger"]))
        if section in ("cover", "summary"):
            vals[section][data.draw(st.sampled_from(sorted(vals[section])))] = data.draw(cell_values)
        else:
            row = data.draw(st.sampled_from(vals[section]))
            row[data.draw(st.sampled_from(sorted(row)))] = data.draw(cell_values)
    path = tmp_path_factory.mktemp("fuzzfile") / "随机.xlsx"
    fill_workbook(build_template(TOWN, PERIOD), vals).save(path)
    report = check_file(path, period=PERIOD, county=COUNTY).report
    assert report.readable and not any(f.code == "file.internal" for f in report.findings), report.findings
    _assert_findings_placed(report)


def test_a_huge_number_in_a_date_cell_is_a_finding_not_a_panic(tmp_path):
    """calamine panics (pyo3 PanicException, a BaseException) converting a date-formatted cell
    that holds a number far outside Excel's dates; the hypothesis test above found it."""
    vals = copy.deepcopy(sample_return(TOWN, PERIOD, seed=3, roster_rows=5, ledger_rows=3))
    vals["cover"]["fill_date"] = -1e15  # calamine: "TimeDelta::milliseconds out of bounds"
    path = tmp_path / "日期.xlsx"
    fill_workbook(build_template(TOWN, PERIOD), vals).save(path)
    report = check_file(path, period=PERIOD, county=COUNTY).report
    assert report.readable and not any(f.code == "file.internal" for f in report.findings), report.findings
    (finding,) = [f for f in report.findings if f.field == "cover.fill_date"]
    assert finding.sheet == "封面" and finding.cell and finding.severity == "error"
    _assert_findings_placed(report)
