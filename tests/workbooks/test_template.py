"""The generated template: names, validation, protection, formats, self-checks, meta, CLI."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from nianbao.cli import app
from nianbao.schemas.county import load_county
from nianbao.schemas.indicators import INDICATORS, RATES, SUMS
from nianbao.schemas.models import Cover, field_specs
from nianbao.schemas.version import TEMPLATE_VERSION, schema_fingerprint
from nianbao.workbooks import layout as L
from nianbao.workbooks.template import INPUT_COLOR, template_filename, write_county_templates, write_template

COUNTY = load_county()
TOWNSHIP = COUNTY.townships[0]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = write_template(tmp_path_factory.mktemp("tpl") / "t.xlsx", TOWNSHIP, "2025", generated_at=datetime(2025, 11, 1, 9, 30))
    return load_workbook(path)


def _names(wb) -> dict[str, str]:
    return {name: dn.attr_text for name, dn in wb.defined_names.items()}


def _expected_inputs() -> list[tuple[str, str, str]]:
    """(sheet, cell, name) of every named input, derived from the layout's rows and columns."""
    rows = [(L.SHEET_COVER, f"B{L.COVER_FIRST_ROW + i}", f"NB_COVER_{s.name}") for i, s in enumerate(field_specs(Cover))]
    value = L.col_letter(L.SUMMARY_COL["value"])
    rows += [(L.SHEET_SUMMARY, f"{value}{r.row}", f"NB_{r.code}") for r in L.SUMMARY_ROWS if r.kind == "indicator"]
    note = L.col_letter(L.SUMMARY_COL["note"])
    rows += [(L.SHEET_SUMMARY, f"{note}{r.row}", L.note_name(r.code)) for r in L.SUMMARY_ROWS if r.kind == "indicator"]
    return rows


def _input_cells(wb):
    """(sheet, cell) of every cell a township types into."""
    for sheet, cell, name in _expected_inputs():
        field = name.removeprefix("NB_COVER_")
        if field not in L.PREFILLED_COVER:
            yield wb[sheet][cell]
    for table in L.DETAIL_TABLES:
        ws = wb[table.sheet]
        for col in range(1, table.last_col + 1):
            for row in (table.first_row, table.first_row + 1, table.last_row):
                yield ws.cell(row, col)


def _validation_of(cell):
    found = [dv for dv in cell.parent.data_validations.dataValidation if cell.coordinate in dv.sqref]
    assert len(found) == 1, f"{cell.parent.title}!{cell.coordinate} has {len(found)} validations"
    return found[0]


def test_sheets_in_order_and_meta_very_hidden(book):
    assert book.sheetnames == list(L.SHEET_ORDER)
    assert book[L.SHEET_META].sheet_state == "veryHidden"
    assert all(book[s].sheet_state == "visible" for s in L.SHEET_ORDER if s != L.SHEET_META)
    assert book.security.lockStructure  # sheets cannot be renamed or deleted in Excel


def test_meta_carries_version_fingerprint_township_period(book):
    ws = book[L.SHEET_META]
    meta = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    assert meta == {
        "template_version": TEMPLATE_VERSION,
        "schema_fingerprint": schema_fingerprint(),
        "township_code": TOWNSHIP.code,
        "township_name": TOWNSHIP.name,
        "period": "2025",
        "generated_at": "2025-11-01T09:30:00",
    }


def test_meta_readable_by_calamine(tmp_path):
    path = write_template(tmp_path / "t.xlsx", TOWNSHIP, "2025")
    book = CalamineWorkbook.from_path(path)
    assert L.SHEET_META in book.sheet_names
    rows = book.get_sheet_by_name(L.SHEET_META).to_python()
    assert ["schema_fingerprint", schema_fingerprint()] in rows


def test_defined_names_match_layout(book):
    names = _names(book)
    flat = set()
    for name, text in names.items():
        ref = L.Ref.parse(text)
        assert ref is not None, name
        if (ref.row, ref.col) == (ref.last_row, ref.last_col):
            flat.add((ref.sheet, L.a1(ref.row, ref.col), name))
    assert flat == set(_expected_inputs())
    for table in L.DETAIL_TABLES:
        ref = L.Ref.parse(names[table.range_name])
        assert (ref.sheet, ref.row, ref.last_row) == (table.sheet, table.header_row + 1, table.header_row + table.capacity)
        assert (ref.col, ref.last_col) == (1, len(field_specs(table.model)))
    assert len(names) == len(field_specs(Cover)) + 2 * len(INDICATORS) + len(L.DETAIL_TABLES)  # value + 情况说明


def test_names_sit_next_to_their_anchor(book):
    names = _names(book)
    ws = book[L.SHEET_SUMMARY]
    for ind in INDICATORS:
        ref = L.Ref.parse(names[f"NB_{ind.code}"])
        assert ws.cell(ref.row, L.SUMMARY_COL["code"]).value == ind.code
        assert ws.cell(ref.row, L.SUMMARY_COL["label"]).value == ind.label
        assert ws.cell(ref.row, L.SUMMARY_COL["unit"]).value == ind.unit
    cover = book[L.SHEET_COVER]
    for spec in field_specs(Cover):
        ref = L.Ref.parse(names[f"NB_COVER_{spec.name}"])
        assert cover.cell(ref.row, ref.col - 1).value == spec.label


def test_every_input_unlocked_marked_and_validated(book):
    count = 0
    for cell in _input_cells(book):
        assert cell.protection.locked is False, f"{cell.parent.title}!{cell.coordinate}"
        assert cell.fill.fgColor.rgb.endswith(INPUT_COLOR)
        dv = _validation_of(cell)
        assert dv.showErrorMessage and dv.showInputMessage
        assert CJK.search(dv.prompt) and CJK.search(dv.error)
        count += 1
    assert count > 100
    for ws in book.worksheets:
        assert ws.protection.sheet, ws.title
        assert not ws.protection.password


def test_everything_else_locked(book):
    inputs = {(c.parent.title, c.coordinate) for c in _input_cells(book)}
    ws = book[L.SHEET_SUMMARY]
    for row in ws.iter_rows():
        for cell in row:
            if (ws.title, cell.coordinate) not in inputs:
                assert cell.protection.locked is not False, cell.coordinate
    cover = book[L.SHEET_COVER]
    for field in L.PREFILLED_COVER:
        cell = cover.cell(L.cover_row(field), L.COVER_VALUE_COL)
        assert cell.protection.locked and cell.value
    assert cover.cell(L.cover_row("township_code"), 2).value == TOWNSHIP.code


def test_validation_type_follows_field_kind(book):
    expected = {"count": "whole", "money": "decimal", "yuan": "decimal", "yesno": "list", "choice": "list", "date": "date", "text": "textLength", "code": "textLength"}
    for table in L.DETAIL_TABLES:
        ws = book[table.sheet]
        for col, spec in enumerate(table.specs, start=1):
            dv = _validation_of(ws.cell(table.first_row, col))
            assert dv.type == expected[spec.kind], spec.name
            assert f"{L.col_letter(col)}{table.last_row}" in dv.sqref
            if spec.kind == "yesno":
                assert dv.formula1 == '"是,否"'
            if spec.kind == "choice":
                assert dv.formula1 == '"' + ",".join(spec.choices) + '"'
            if spec.kind in ("count", "money", "yuan"):
                assert (dv.operator, dv.formula1) == ("greaterThanOrEqual", "0")
    ledger = book[L.LEDGER.sheet]
    date_dv = _validation_of(ledger.cell(L.LEDGER.first_row, L.LEDGER.columns["aid_date"]))
    assert (date_dv.formula1, date_dv.formula2) == ("DATE(2025,1,1)", "DATE(2025,12,31)")
    summary = book[L.SHEET_SUMMARY]
    for ind in INDICATORS:
        dv = _validation_of(summary.cell(L.SUMMARY_ROW_OF[ind.code], L.SUMMARY_COL["value"]))
        assert dv.type == ("decimal" if ind.is_money else "whole")


def test_number_formats(book):
    for table in L.DETAIL_TABLES:
        ws = book[table.sheet]
        for col, spec in enumerate(table.specs, start=1):
            fmt = ws.cell(table.first_row + 7, col).number_format
            if spec.text:
                assert fmt == "@", spec.name
            elif spec.kind in ("money", "yuan"):
                assert fmt == "0.00", spec.name
    assert book[L.ROSTER.sheet].cell(L.ROSTER.first_row, L.ROSTER.columns["uscc"]).number_format == "@"
    assert book[L.LEDGER.sheet].cell(L.LEDGER.first_row, L.LEDGER.columns["id_number"]).number_format == "@"
    cover = book[L.SHEET_COVER]
    for field in ("township_code", "phone"):
        assert cover.cell(L.cover_row(field), L.COVER_VALUE_COL).number_format == "@"
    summary = book[L.SHEET_SUMMARY]
    for ind in INDICATORS:
        fmt = summary.cell(L.SUMMARY_ROW_OF[ind.code], L.SUMMARY_COL["value"]).number_format
        assert fmt == ("0.00" if ind.is_money else "0")


def test_tables_are_excel_tables_with_schema_headers(book):
    for table in L.DETAIL_TABLES:
        ws = book[table.sheet]
        excel_table = ws.tables[table.table_name]
        assert excel_table.ref == f"A{table.header_row}:{L.col_letter(len(table.specs))}{table.header_row + table.capacity}"
        header = [ws.cell(table.header_row, c).value for c in range(1, len(table.specs) + 1)]
        assert header == [s.header for s in field_specs(table.model)]


# --- self-check formulas --------------------------------------------------------------------

_A1 = re.compile(r"\$?\b[A-Z]{1,3}\$?\d+\b")


def test_self_check_on_every_indicator(book):
    ws = book[L.SHEET_SUMMARY]
    check_col = L.SUMMARY_COL["check"]
    for ind in INDICATORS:
        formula = ws.cell(L.SUMMARY_ROW_OF[ind.code], check_col).value
        assert formula.startswith("=IFERROR(IF(OR(ISTEXT("), ind.code  # text in a number cell is marked
        assert not _A1.search(re.sub(r"NB_\w+", "", formula)), f"hard-coded address in {formula}"
        assert f"NB_{ind.code}" in formula
        if ind.part_of:
            assert f"NB_{ind.code}>NB_{ind.part_of}" in formula
    total, parts = SUMS[0]
    total_check = ws.cell(L.SUMMARY_ROW_OF[total], check_col).value
    assert f"SUM({','.join('NB_' + p for p in parts)})<>NB_{total}" in total_check


def test_check_column_red_when_marked(book):
    ws = book[L.SHEET_SUMMARY]
    rules = [(str(cf.sqref), rule) for cf in ws.conditional_formatting for rule in cf.rules if rule.formula == ['"✗"']]
    assert len(rules) == 1
    sqref, rule = rules[0]
    assert rule.dxf.font.color.rgb.endswith("9C0006")
    check = L.col_letter(L.SUMMARY_COL["check"])
    assert f"{check}{L.SUMMARY_ROW_OF['A08']}" in sqref.split()


def test_conclusion_at_the_top_of_the_summary(book):
    ws = book[L.SHEET_SUMMARY]
    label = ws.cell(L.CHECK_CONCLUSION_ROW, L.SUMMARY_COL["check"])
    assert label.value == "自查结论"
    assert ws.cell(L.CHECK_CONCLUSION_ROW, L.SUMMARY_COL["check"] + 1).value == L.check_conclusion_formula()


def test_rates_are_locked_percent_formulas(book):
    ws = book[L.SHEET_SUMMARY]
    for rate in RATES:
        cell = ws.cell(L.SUMMARY_ROW_OF[rate.code], L.SUMMARY_COL["value"])
        n, d = f"NB_{rate.numerator}", f"NB_{rate.denominator}"
        assert cell.value == f'=IF(AND(ISNUMBER({n}),ISNUMBER({d})),IF({d}>0,{n}/{d},""),"")'
        assert cell.number_format == "0.00%"
        assert cell.protection.locked is not False
        assert ws.cell(cell.row, L.SUMMARY_COL["code"]).value == rate.code


def test_summary_rows_reusable_with_offset():
    shifted = L.summary_rows(first_row=10)
    assert [(r.kind, r.code) for r in shifted] == [(r.kind, r.code) for r in L.SUMMARY_ROWS]
    assert shifted[0].row == 10 and shifted[-1].row == L.SUMMARY_ROWS[-1].row + 10 - L.SUMMARY_FIRST_ROW
    assert [r.code for r in shifted if r.kind == "indicator"] == [i.code for i in INDICATORS]
    assert [r.code for r in shifted if r.kind == "rate"] == [r.code for r in RATES]


def test_guide_is_chinese_and_explains_marks(book):
    text = "\n".join(str(c.value) for row in book[L.SHEET_GUIDE].iter_rows() for c in row if c.value)
    for phrase in ("黄色", "工作表名称", "插入或删除行", "重新报送", "万元", "✗"):
        assert phrase in text
    fills = [c.fill.fgColor.rgb for row in book[L.SHEET_GUIDE].iter_rows() for c in row if c.fill.fill_type]
    assert any(f.endswith(INPUT_COLOR) for f in fills)


def test_bad_period_is_a_chinese_error(tmp_path):
    with pytest.raises(ValueError, match="报告期"):
        write_template(tmp_path / "x.xlsx", TOWNSHIP, "2025Q3")


def test_county_templates_one_per_township(tmp_path):
    seen = []
    paths = write_county_templates(COUNTY, "2025", tmp_path, on_written=seen.append)
    assert len(paths) == len(COUNTY.townships) == len(seen) == 18
    assert {p.name for p in paths} == {f"{t.code}_{t.name}_2025年报.xlsx" for t in COUNTY.townships}
    with pytest.raises(ValueError, match="不在县配置中"):
        write_county_templates(COUNTY, "2023", tmp_path)


# --- CLI ------------------------------------------------------------------------------------


def test_cli_one_template(tmp_path):
    out = tmp_path / "one.xlsx"
    result = CliRunner().invoke(app, ["template", "--township", TOWNSHIP.code, "--period", "2025", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "已生成" in result.output
    assert load_workbook(out)[L.SHEET_COVER].cell(L.cover_row("township_name"), 2).value == TOWNSHIP.name


def test_cli_default_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["template", "--township", TOWNSHIP.code, "--period", "2025"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / template_filename(TOWNSHIP, "2025")).exists()


def test_cli_all_templates(tmp_path):
    result = CliRunner().invoke(app, ["template", "--all", "--period", "2024", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*_2024年报.xlsx"))) == 18
    assert "18" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--township", "419901999", "--period", "2025"], "找不到乡镇代码"),
        (["--township", "419901100", "--period", "2023"], "不在县配置中"),
        (["--township", "419901100", "--period", "二〇二五"], "报告期"),
        (["--period", "2025"], "--township"),
        (["--township", "419901100", "--config", "missing.toml"], "找不到县配置文件"),
    ],
)
def test_cli_errors_are_chinese(tmp_path, args, message):
    result = CliRunner().invoke(app, ["template", *args, "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_note_column_says_when_an_explanation_is_expected(book, tmp_path):
    from nianbao.schemas.indicators import COMPARABLE

    ws = book[L.SHEET_SUMMARY]
    col = L.SUMMARY_COL["note"]
    assert ws.cell(L.SUMMARY_HEADER_ROW, col).value == "情况说明"
    for ind in INDICATORS:
        cell = ws.cell(L.SUMMARY_ROW_OF[ind.code], col)
        assert cell.protection.locked is False
        dv = _validation_of(cell)
        assert dv.type == "textLength" and "说明原因" in dv.prompt and "县总工会设定的幅度" in dv.prompt
    guide = " ".join(str(c.value) for row in book[L.SHEET_GUIDE].iter_rows() for c in row if c.value)
    assert "“情况说明”" in guide and all(r.label in guide for r in COMPARABLE)
    # with the county config the threshold itself is quoted
    county = write_template(tmp_path / "c.xlsx", TOWNSHIP, "2025", yoy_threshold=0.3)
    prompt = _validation_of(load_workbook(county)[L.SHEET_SUMMARY].cell(L.SUMMARY_ROW_OF["A01"], col)).prompt
    assert "±30%" in prompt
