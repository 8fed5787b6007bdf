"""What lands on paper, and what a real spreadsheet engine computes.

openpyxl-level tests assert the page setup of every sheet of the template, the master workbook
and the receipts. Where LibreOffice is installed (the ``office`` fixture skips otherwise), the
template's self-check formulas are recalculated by it and compared with the validator, and the
demo county's master workbook, one returned and one accepted receipt and a template are
rendered to PDF: page counts, and what every page carries.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from openpyxl import load_workbook

from nianbao.demo import build_demo
from nianbao.pipeline import run_once
from nianbao.schemas.indicators import INDICATORS, RATES
from nianbao.settings import Settings
from nianbao.validate import check_file
from nianbao.workbooks import layout as L
from nianbao.workbooks.master import build_workbook
from nianbao.workbooks.master_layout import CHART_SHEET, COUNTY_SIGNATURE, master_sheets
from nianbao.workbooks.printing import PAGE_FOOTER
from nianbao.workbooks.receipt_sheet import NOT_A_RETURN
from nianbao.workbooks.sample import fill_template
from nianbao.workbooks.template import write_template
from rule_fixtures import FIXTURES, PERIOD, TOWN, base_values

A4 = 9


def assert_prints_on_a4(ws, orientation: str, wide: int, tall: int) -> None:
    setup = ws.page_setup
    assert (int(setup.paperSize), setup.orientation) == (A4, orientation), ws.title
    assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
    assert (setup.fitToWidth, setup.fitToHeight) == (wide, tall), ws.title
    assert ws.oddFooter.center.text == PAGE_FOOTER, ws.title
    assert ws.oddHeader.center.text, ws.title


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return write_template(tmp_path_factory.mktemp("tpl") / "t.xlsx", TOWN, PERIOD)


# --- page setup, openpyxl level -------------------------------------------------------------


def test_template_page_setup(template):
    wb = load_workbook(template)
    for sheet in (L.SHEET_GUIDE, L.SHEET_COVER, L.SHEET_SUMMARY, *(t.sheet for t in L.DETAIL_TABLES)):
        expected = L.template_page(sheet, "", wb[sheet].max_row)
        assert_prints_on_a4(wb[sheet], expected.orientation, expected.fit_wide, expected.fit_tall)
    assert wb[L.SHEET_COVER].print_area == f"'{L.SHEET_COVER}'!$A$1:$C${L.COVER_LAST_ROW}"
    summary = wb[L.SHEET_SUMMARY]
    assert summary.print_title_rows == f"${L.SUMMARY_HEADER_ROW}:${L.SUMMARY_HEADER_ROW}"
    last = L.col_letter(len(L.SUMMARY_COLUMNS))
    assert summary.print_area.endswith(f"$A$1:${last}${L.SUMMARY_ROWS[-1].row}")  # 自查, 情况说明 and 填写要求 on the page
    assert (wb[L.SHEET_GUIDE].page_setup.fitToHeight, wb[L.SHEET_COVER].page_setup.fitToHeight) == (1, 1)
    for table in L.DETAIL_TABLES:
        assert wb[table.sheet].print_title_rows == f"${table.hint_row}:${table.header_row}"


def test_template_cover_signature_block(template):
    ws = load_workbook(template)[L.SHEET_COVER]
    texts = {c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for label in ("单位负责人（签字）：", "填表人（签字）：", "单位（盖章）"):
        assert label in texts
    labels = {s.label for s in L.COVER_SPECS}
    assert {"填表人", "联系电话", "填报日期", "单位负责人"} <= labels  # the inputs themselves
    # the block lies inside the printed area and below the last input
    stamp = next(c for row in ws.iter_rows() for c in row if c.value == "单位（盖章）")
    assert L.cover_row(L.COVER_SPECS[-1].name) < stamp.row <= L.COVER_LAST_ROW


def test_master_page_setup(make, tmp_path):
    sheets = master_sheets(make())
    build_workbook(sheets).save(tmp_path / "master.xlsx")  # streamed: read back from the file
    wb = load_workbook(tmp_path / "master.xlsx")
    for sheet in sheets:
        ws, setup = wb[sheet.title], sheet.page_setup
        assert_prints_on_a4(ws, setup.orientation, setup.fit_wide, setup.fit_tall)
        assert ws.print_area == f"'{sheet.title}'!$A$1:${L.col_letter(sheet.width)}${sheet.end_row}"
        assert ws.print_title_rows == f"${sheet.header_row}:${sheet.header_row}"
        assert ws.oddFooter.left.text == sheet.stamp
    towns = wb["分乡镇"]
    assert towns.page_setup.orientation == "landscape" and towns.page_setup.fitToWidth > 1
    assert towns.print_title_cols == "$A:$B"  # township code and name on every page
    summary = next(s for s in sheets if s.title == "汇总")
    grid = summary.grid()
    for line in COUNTY_SIGNATURE:
        assert any(row[: len(line)] == list(line) for row in grid)
    for r in summary.signature_rows:
        assert wb["汇总"].row_dimensions[r].height == summary.signature_height
        assert summary.last_row < r <= summary.end_row
    charts = wb[CHART_SHEET]
    assert_prints_on_a4(charts, "portrait", 1, 1)
    assert len(charts._charts) == 2


# --- a real spreadsheet engine ---------------------------------------------------------------

# Cell-level and intra-table findings on 主要指标 the 自查 column must mark. A formula without a
# cached value is left out: LibreOffice computes it, so there is nothing to mark afterwards. So is
# a number beyond the validator's arithmetic cap (cell.too_large, 1e308): a bound the template's
# formulas do not know (the county's own bounds are value.too_large, also the validator's alone).
SELF_CHECKED = [
    f for f in FIXTURES
    if f.field.startswith("summary.") and f.code.split(".")[0] in ("cell", "le", "sum")
    and f.code not in ("cell.formula_no_value", "cell.too_large")
]
TEXT_CASES = {"text_unit": {"A07": "1414人"}, "text_fullwidth": {"A10": "１６２６"}, "text_word": {"C01": "五十七"}}


def _values(changes: dict) -> dict:
    values = base_values()
    values["summary"].update(changes)
    return values


def test_self_check_agrees_with_the_validator_in_libreoffice(office, template, tmp_path):
    cases = {"clean": base_values()} | {f"fx_{i}": f.values() for i, f in enumerate(SELF_CHECKED)}
    cases |= {name: _values(changes) for name, changes in TEXT_CASES.items()}
    cases["rate_text_denominator"] = _values({"A02": "二百四十"})
    cases["rate_zero_denominator"] = _values({"A02": 0, "A03": 0})
    files = {name: fill_template(template, values, tmp_path / f"{name}.xlsx") for name, values in cases.items()}
    recalculated = dict(zip(files, office.recalculated(list(files.values()))))

    def sheet(name):
        return load_workbook(recalculated[name], data_only=True)[L.SHEET_SUMMARY]

    def marked(ws) -> set[str]:
        return {i.code for i in INDICATORS if ws.cell(L.SUMMARY_ROW_OF[i.code], L.SUMMARY_COL["check"]).value == L.CHECK_MARK}

    def conclusion(ws) -> str:
        return ws.cell(L.CHECK_CONCLUSION_ROW, L.SUMMARY_COL["check"] + 1).value

    clean = sheet("clean")
    assert check_file(files["clean"]).report.errors == []
    assert marked(clean) == set() and conclusion(clean) == L.CHECK_PASSED
    for rate in RATES:
        assert isinstance(clean.cell(L.SUMMARY_ROW_OF[rate.code], L.SUMMARY_COL["value"]).value, float), rate.code
    for i, fixture in enumerate(SELF_CHECKED):
        ws = sheet(f"fx_{i}")
        validator = {f.field.split(".")[1] for f in check_file(files[f"fx_{i}"]).report.errors if f.field and f.field.startswith("summary.")}
        code = fixture.field.split(".")[1]
        assert code in validator, fixture.code  # the validator rejects it ...
        assert code in marked(ws), fixture.code  # ... and the self-check marks the same row
        assert conclusion(ws) == f"还有 {len(marked(ws))} 处需要修改", fixture.code
    for name, changes in TEXT_CASES.items():
        assert marked(sheet(name)) >= set(changes), name
        assert not any(str(c.value).startswith("#") for row in sheet(name).iter_rows() for c in row if c.value), name
    for name in ("rate_text_denominator", "rate_zero_denominator"):
        ws = sheet(name)
        rate = next(r for r in RATES if r.denominator == "A02")
        assert ws.cell(L.SUMMARY_ROW_OF[rate.code], L.SUMMARY_COL["value"]).value in (None, ""), name
        assert not any(str(c.value).startswith("#") for row in ws.iter_rows() for c in row if c.value), name
    blank = load_workbook(office.recalculated([template])[0], data_only=True)[L.SHEET_SUMMARY]
    assert conclusion(blank) == f"还有 {len(INDICATORS)} 项未填写"


# --- rendered pages ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def county_run(office, tmp_path_factory):
    """The demo county (18 townships) run once without Prefect: master workbook and receipts."""
    root = tmp_path_factory.mktemp("county")
    plan = build_demo(root, roster_rows=6, ledger_rows=3)
    settings = Settings(config=str(plan.config_path), inbox=str(root / "inbox"), db=f"sqlite:///{root / 'nianbao.db'}",
                        out=str(root / "out"), outbox=str(root / "outbox"))
    result = run_once(settings, PERIOD, as_of=datetime(2026, 1, 20, 9, 0))
    return plan, result


def _pages_of(pages: list[str], header: str) -> list[str]:
    """The pages whose header (first line of text) carries ``header``."""
    return [p for p in pages if header in next((line for line in p.splitlines() if line.strip()), "")]


def test_master_workbook_on_paper(office, county_run):
    plan, result = county_run
    pages = office.pdf_pages(result.master)
    # 数据来源 is a table (a row per township, a column per indicator) for looking figures up, not
    # a page to sign: it is left out of the bound, but every page of it carries its header row
    # and the townships' names.
    sources = _pages_of(pages, "数据来源")
    names = [str(n) for n in result.consolidation.by_township["township_name"]]
    assert sources and all("单元格" in p and "乡镇名称" in p and all(n in p for n in names) for p in sources)
    assert any("来源文件" in p for p in sources)
    assert len(pages) - len(sources) <= 17  # 14 before 统计综述 and 变动情况 (2 + 1 pages)
    c = result.consolidation
    names = [str(n) for n in c.by_township["township_name"]]
    township_pages = [p for p in _pages_of(pages, "分乡镇汇总") if "图表" not in p.splitlines()[0]]
    assert len(township_pages) >= 2
    for page in township_pages:  # every printed page of 分乡镇 names every township
        assert all(name in page for name in names)
    summary = _pages_of(pages, "工会年报汇总表")
    assert "单位负责人（签字）" in summary[-1] and "单位（盖章）" in summary[-1]


def test_receipts_on_paper(office, county_run):
    plan, result = county_run
    returned_code = next(t for t in plan.with_errors if t not in plan.resubmitted)
    returned = next(p for p in result.receipts if p.name.startswith(returned_code) and PERIOD in p.name)
    accepted = next(p for p in result.receipts if p.name.startswith(plan.county.townships[0].code) and PERIOD in p.name)
    returned_pages, accepted_pages = (office.pdf_pages(p) for p in (returned, accepted))
    receipt_pages = _pages_of(returned_pages, "年报回执")
    assert len(receipt_pages) == 1 and receipt_pages[0] == returned_pages[0]
    assert "在您原来的报表文件上修改后重新报送" in receipt_pages[0]
    for page in returned_pages[1:]:  # the annotated copy: every page says it is not a return
        assert "不是报表" in page
    assert NOT_A_RETURN.startswith("县总工会回执附件")
    assert len(accepted_pages) <= 2


def test_template_on_paper(office, template):
    pages = office.pdf_pages(template)
    assert len(pages) <= 7  # guide, cover, 主要指标 (2), roster, ledger, 帮扶汇总: one page each when blank
    assert any("帮扶汇总" in p and "帮扶人次" in p for p in pages)
    summary = _pages_of(pages, "主要指标")
    assert summary
    for page in summary:  # the 自查 column prints on the page of its indicators
        assert "自查" in page and "指标名称" in page
    cover = _pages_of(pages, "工会工作统计年报")
    assert any("单位负责人（签字）" in p and "单位（盖章）" in p for p in cover)
