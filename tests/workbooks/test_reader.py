"""The reader: exact raw values in every format, anchors over stale names, file-level errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from nianbao.schemas.coerce import FormulaWithoutValue
from nianbao.schemas.county import load_county
from nianbao.schemas.findings import error
from nianbao.schemas.version import TEMPLATE_VERSION, schema_fingerprint
from nianbao.workbooks import layout as L
from nianbao.workbooks.reader import RawReturn, ReturnReadError, read_return
from nianbao.workbooks.sample import sample_return, save_as_ods, save_as_xls, write_sample_return

COUNTY = load_county()
TOWNSHIP = COUNTY.townships[6]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def values() -> dict:
    return sample_return(TOWNSHIP, "2025", 21)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    return write_sample_return(tmp_path_factory.mktemp("r") / "filled.xlsx", TOWNSHIP, "2025", 21)


def _edit(src: Path, dst: Path, change) -> Path:
    """A copy of ``src`` changed by ``change(workbook)``, saved with openpyxl."""
    wb = load_workbook(src)
    change(wb)
    wb.save(dst)
    return dst


def _read_error(path: Path) -> ReturnReadError:
    with pytest.raises(ReturnReadError) as info:
        read_return(path)
    err = info.value
    assert CJK.search(err.message), err.message
    return err


# --- reading back exactly what was written -------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "xlsm", "xls", "ods"])
def test_reads_back_exactly_the_values_written(filled, values, tmp_path, fmt):
    path = {
        "xlsx": lambda: filled,
        "xlsm": lambda: Path(shutil.copy(filled, tmp_path / "filled.xlsm")),
        "xls": lambda: save_as_xls(filled, tmp_path / "filled.xls"),
        "ods": lambda: save_as_ods(filled, tmp_path / "filled.ods"),
    }[fmt]()
    raw = read_return(path)
    assert isinstance(raw, RawReturn)
    assert raw.values() == values
    # raw types as written: codes stay text, dates stay dates, blanks are None
    assert raw.roster[0]["uscc"] == values["roster"][0]["uscc"] and isinstance(raw.roster[0]["uscc"], str)
    assert type(raw.cover["fill_date"]) is date
    assert any(r["union_year"] is None for r in raw.roster) == any(r["union_year"] is None for r in values["roster"])
    assert raw.meta["template_version"] == TEMPLATE_VERSION
    assert raw.meta["schema_fingerprint"] == schema_fingerprint()
    assert raw.township_code == TOWNSHIP.code


def test_township_comes_from_the_cover_not_the_file_name(filled, tmp_path):
    renamed = Path(shutil.copy(filled, tmp_path / "419901999_别的乡_2025年报.xlsx"))
    assert read_return(renamed).township_code == TOWNSHIP.code


def test_renamed_file_format_is_read_by_content(filled, values, tmp_path):
    disguised = Path(shutil.copy(filled, tmp_path / "filled.xls"))
    assert read_return(disguised).values() == values


def test_reader_never_loads_openpyxl(filled):
    code = f"import sys; from nianbao.workbooks.reader import read_return; read_return({str(filled)!r}); print('openpyxl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "False"


def test_blank_rows_skipped_and_mapped_to_their_sheet_rows(tmp_path, values):
    t = TOWNSHIP

    def gap(wb):
        ws = wb[L.SHEET_ROSTER]
        ws.insert_rows(L.ROSTER.first_row + 2, amount=3)  # three blank rows inside the data

    path = _edit(write_sample_return(tmp_path / "a.xlsx", t, "2025", 21), tmp_path / "gap.xlsx", gap)
    raw = read_return(path)
    assert raw.roster == values["roster"]
    assert raw.cells.locate("roster.1.uscc") == (L.SHEET_ROSTER, f"B{L.ROSTER.first_row + 1}")
    assert raw.cells.locate("roster.2.uscc") == (L.SHEET_ROSTER, f"B{L.ROSTER.first_row + 5}")
    assert raw.cells.locate("roster") == (L.SHEET_ROSTER, None)


def test_cell_map_places_findings(filled):
    cells = read_return(filled).cells
    row = L.SUMMARY_ROW_OF["A08"]
    assert cells.locate("summary.A08") == (L.SHEET_SUMMARY, f"D{row}")
    assert cells.locate("cover.filler") == (L.SHEET_COVER, f"B{L.cover_row('filler')}")
    assert cells.locate("ledger.0.id_number") == (L.SHEET_LEDGER, f"B{L.LEDGER.first_row}")
    assert cells.locate("nonsense.1") == (None, None)
    placed = cells.place(error("le.A08", "填写了 620，应不大于【职工人数】500", field="summary.A08"))
    assert placed.message == f"「主要指标」D{row}【其中：女职工】填写了 620，应不大于【职工人数】500"
    assert (placed.sheet, placed.cell, placed.label) == (L.SHEET_SUMMARY, f"D{row}", "其中：女职工")
    assert cells.place(placed).message == placed.message  # placing twice does not prefix twice
    whole = cells.place(error("roster.empty", "名册没有填写任何单位", field="roster"))
    assert whole.message == "「基层工会名册」名册没有填写任何单位"


# --- inserted rows and columns -------------------------------------------------------------


def _shift_names(wb, sheet: str, at_row: int, by: int = 1) -> None:
    """What Excel does on inserting rows: names below the insertion move with their cells."""
    for name, dn in list(wb.defined_names.items()):
        ref = L.Ref.parse(dn.attr_text)
        if ref.sheet == sheet and ref.row >= at_row:
            moved = L.Ref(ref.sheet, ref.row + by, ref.col, ref.last_row + by, ref.last_col)
            dn.attr_text = moved.text


def test_row_inserted_by_excel_names_moved(filled, values, tmp_path):
    at = L.SUMMARY_ROW_OF["A08"]

    def insert(wb):
        wb[L.SHEET_SUMMARY].insert_rows(at)
        _shift_names(wb, L.SHEET_SUMMARY, at)

    raw = read_return(_edit(filled, tmp_path / "moved.xlsx", insert))
    assert raw.summary == values["summary"]
    assert raw.cells.locate("summary.A08") == (L.SHEET_SUMMARY, f"D{at + 1}")
    assert raw.cells.locate("summary.A07") == (L.SHEET_SUMMARY, f"D{at - 1}")


def test_row_inserted_names_stale_read_by_anchor(filled, values, tmp_path):
    at = L.SUMMARY_ROW_OF["C01"]
    raw = read_return(_edit(filled, tmp_path / "stale.xlsx", lambda wb: wb[L.SHEET_SUMMARY].insert_rows(at, amount=2)))
    assert raw.summary == values["summary"]
    assert raw.cells.locate("summary.C01") == (L.SHEET_SUMMARY, f"D{at + 2}")


def test_column_inserted_in_roster_read_by_header(filled, values, tmp_path):
    raw = read_return(_edit(filled, tmp_path / "col.xlsx", lambda wb: wb[L.SHEET_ROSTER].insert_cols(1)))
    assert raw.roster == values["roster"]
    assert raw.cells.locate("roster.0.uscc") == (L.SHEET_ROSTER, f"C{L.ROSTER.first_row}")


def test_cover_row_inserted_read_by_label(filled, values, tmp_path):
    raw = read_return(_edit(filled, tmp_path / "cover.xlsx", lambda wb: wb[L.SHEET_COVER].insert_rows(L.COVER_FIRST_ROW)))
    assert raw.cover == values["cover"]


def test_xls_with_inserted_row_read_by_anchor(filled, values, tmp_path):
    moved = _edit(filled, tmp_path / "m.xlsx", lambda wb: wb[L.SHEET_SUMMARY].insert_rows(L.SUMMARY_ROW_OF["B01"]))
    raw = read_return(save_as_xls(moved, tmp_path / "m.xls"))
    assert raw.values() == values


def test_header_gone_columns_from_names(filled, values, tmp_path):
    """No header row to go by: a column inserted in Excel (names moved) is found through the names."""

    def change(wb):
        ws = wb[L.SHEET_SUMMARY]
        for col in range(1, len(L.SUMMARY_COLUMNS) + 1):
            ws.cell(L.SUMMARY_HEADER_ROW, col).value = None
        ws.insert_cols(1)
        for name, dn in list(wb.defined_names.items()):
            ref = L.Ref.parse(dn.attr_text)
            if ref.sheet == L.SHEET_SUMMARY:
                dn.attr_text = L.Ref(ref.sheet, ref.row, ref.col + 1, ref.last_row, ref.last_col + 1).text

    raw = read_return(_edit(filled, tmp_path / "nohead.xlsx", change))
    assert raw.summary == values["summary"]
    assert raw.cells.locate("summary.A01") == (L.SHEET_SUMMARY, f"E{L.SUMMARY_ROW_OF['A01']}")


def test_deleted_code_column_is_moved_inputs(filled, tmp_path):
    err = _read_error(_edit(filled, tmp_path / "nocode.xlsx", lambda wb: wb[L.SHEET_SUMMARY].delete_cols(1)))
    assert err.code == "file.moved_inputs"
    assert err.sheet == L.SHEET_SUMMARY
    assert "A01" in err.message and "主要指标" in err.message and "插入或删除" in err.message


def test_duplicated_code_row_is_moved_inputs(filled, tmp_path):
    def duplicate(wb):
        ws = wb[L.SHEET_SUMMARY]
        row = L.SUMMARY_ROW_OF["A08"]
        ws.insert_rows(row)
        for col in range(1, 5):
            ws.cell(row, col).value = ws.cell(row + 1, col).value
        ws.cell(row, 4).value = 1  # NB_A08 still points at a row reading A08, but which one is meant?

    err = _read_error(_edit(filled, tmp_path / "dup.xlsx", duplicate))
    assert err.code == "file.moved_inputs"
    assert "A08" in err.message and f"第 {L.SUMMARY_ROW_OF['A08']}、{L.SUMMARY_ROW_OF['A08'] + 1} 行" in err.message


def test_renamed_header_is_moved_inputs(filled, tmp_path):
    def rename(wb):
        wb[L.SHEET_LEDGER].cell(L.LEDGER.header_row, 2).value = "证件号码"
        del wb.defined_names[L.LEDGER.range_name]

    err = _read_error(_edit(filled, tmp_path / "hdr.xlsx", rename))
    assert err.code == "file.moved_inputs" and err.sheet == L.SHEET_LEDGER
    assert "表头" in err.message


# --- not a usable return ---------------------------------------------------------------------


def test_renamed_sheet(filled, tmp_path):
    err = _read_error(_edit(filled, tmp_path / "ren.xlsx", lambda wb: setattr(wb[L.SHEET_ROSTER], "title", "名册")))
    assert (err.code, err.sheet) == ("file.missing_sheet", L.SHEET_ROSTER)
    assert "「基层工会名册」" in err.message and "「名册」" in err.message and "改名" in err.message


def test_deleted_sheet(filled, tmp_path):
    def delete(wb):
        del wb[L.SHEET_LEDGER]

    err = _read_error(_edit(filled, tmp_path / "del.xlsx", delete))
    assert (err.code, err.sheet) == ("file.missing_sheet", L.SHEET_LEDGER)
    assert "删除" in err.message


def test_workbook_that_is_not_a_return(tmp_path):
    wb = Workbook()
    wb.active.title = "工资表"
    wb.active["A1"] = "姓名"
    wb.save(tmp_path / "wages.xlsx")
    err = _read_error(tmp_path / "wages.xlsx")
    assert err.code == "file.not_return" and "工资表" in err.message


def test_text_file_renamed_xlsx(tmp_path):
    path = tmp_path / "notes.xlsx"
    path.write_text("这不是表格\n", encoding="utf-8")
    assert _read_error(path).code == "file.unreadable"


def test_truncated_xlsx(filled, tmp_path):
    path = tmp_path / "cut.xlsx"
    path.write_bytes(filled.read_bytes()[:3000])
    assert _read_error(path).code == "file.unreadable"


def test_word_document_renamed_xlsx(tmp_path):
    path = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<document/>")
    assert _read_error(path).code == "file.not_return"


@pytest.mark.parametrize("name, code", [("return.csv", "file.wrong_format"), ("return.pdf", "file.wrong_format"), ("return", "file.not_return")])
def test_unsupported_file_type(tmp_path, name, code):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    err = _read_error(path)
    assert err.code == code and ".xlsx" in err.message


def test_password_protected_file(tmp_path):
    """Excel stores a password-protected .xlsx as an OLE file holding an EncryptedPackage stream."""
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptedPackage".encode("utf-16-le") + bytes(3000))
    err = _read_error(path)
    assert err.code == "file.unreadable" and "密码" in err.message


def test_missing_file(tmp_path):
    assert _read_error(tmp_path / "gone.xlsx").code == "file.unreadable"


def test_old_fingerprint(filled, tmp_path):
    def old(wb):
        wb[L.SHEET_META].cell(L.meta_row("schema_fingerprint"), 2).value = "0123456789abcdef"
        wb[L.SHEET_META].cell(L.meta_row("template_version"), 2).value = "2024.3"

    err = _read_error(_edit(filled, tmp_path / "old.xlsx", old))
    assert err.code == "file.old_template"
    assert "2024.3" in err.message and TEMPLATE_VERSION in err.message and "新模板" in err.message


def test_missing_meta_sheet_is_old_template(filled, tmp_path):
    def drop(wb):
        del wb[L.SHEET_META]

    assert _read_error(_edit(filled, tmp_path / "nometa.xlsx", drop)).code == "file.old_template"


def test_error_becomes_a_finding(tmp_path):
    path = tmp_path / "notes.xlsx"
    path.write_text("x")
    finding = _read_error(path).finding()
    assert finding.code == "file.unreadable" and finding.severity == "error"


# --- formulas --------------------------------------------------------------------------------


def test_formula_without_cached_value(filled, tmp_path):
    def formulas(wb):
        ref = L.Ref.parse(wb.defined_names["NB_A01"].attr_text)
        wb[ref.sheet].cell(ref.row, ref.col).value = "=NB_A02+5"
        roster = wb[L.SHEET_ROSTER]
        roster.cell(L.ROSTER.first_row, L.ROSTER.columns["employees"]).value = "=3*4"

    raw = read_return(_edit(filled, tmp_path / "f.xlsx", formulas))
    assert raw.summary["A01"] == FormulaWithoutValue("=NB_A02+5")
    assert isinstance(raw.summary["A01"], FormulaWithoutValue)
    assert isinstance(raw.roster[0]["employees"], FormulaWithoutValue) and raw.roster[0]["employees"] == "=3*4"
    assert not isinstance(raw.summary["A02"], FormulaWithoutValue)


def test_formula_with_cached_value_reads_the_value(filled, tmp_path, values):
    """Excel and WPS store the result next to the formula; that result is the value."""
    row, col = L.SUMMARY_ROW_OF["A01"], L.SUMMARY_COL["value"]
    cell = f"{L.col_letter(col)}{row}"
    src = zipfile.ZipFile(filled)
    out = tmp_path / "cached.xlsx"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet3.xml":
                data = re.sub(rf'<c r="{cell}"([^>]*)><v>[^<]*</v></c>'.encode(), rf'<c r="{cell}"\1><f>NB_A02+5</f><v>123</v></c>'.encode(), data)
                assert b"<f>NB_A02+5</f>" in data
            dst.writestr(item, data)
    assert read_return(out).summary["A01"] == 123


# --- 情况说明 ------------------------------------------------------------------------------------


def test_notes_are_read_through_their_defined_names_and_parsed(filled, values, tmp_path):
    from nianbao.validate import check_file
    from nianbao.workbooks.sample import fill_workbook

    notes = {"D06": "春节前集中发放送温暖资金", "A07": "新设工业园区，职工增加"}
    path = _edit(filled, tmp_path / "noted.xlsx", lambda wb: fill_workbook(wb, {"notes": notes}))
    raw = read_return(path)
    assert raw.values()["notes"] == notes and raw.values()["summary"] == values["summary"]
    col = L.col_letter(L.SUMMARY_COL["note"])
    assert raw.cells.locate("notes.D06") == (L.SHEET_SUMMARY, f"{col}{L.SUMMARY_ROW_OF['D06']}")
    checked = check_file(path)
    assert checked.report.valid and checked.ret.notes.D06 == notes["D06"] and checked.ret.notes.A01 is None
    assert checked.cells.locate("summary.A07") == (L.SHEET_SUMMARY, f"D{L.SUMMARY_ROW_OF['A07']}")


def test_notes_follow_the_names_when_the_header_is_changed_and_the_header_without_names(filled, tmp_path):
    def renamed(wb):
        ws = wb[L.SHEET_SUMMARY]
        ws.cell(L.SUMMARY_HEADER_ROW, L.SUMMARY_COL["note"]).value = "备注"
        ws.cell(L.SUMMARY_ROW_OF["A07"], L.SUMMARY_COL["note"]).value = "新设工业园区"

    assert read_return(_edit(filled, tmp_path / "a.xlsx", renamed)).notes["A07"] == "新设工业园区"

    def unnamed(wb):
        for name in [n for n in wb.defined_names if n.startswith("NB_NOTE_")]:
            del wb.defined_names[name]
        wb[L.SHEET_SUMMARY].cell(L.SUMMARY_ROW_OF["B01"], L.SUMMARY_COL["note"]).value = "补签"

    assert read_return(_edit(filled, tmp_path / "b.xlsx", unnamed)).notes["B01"] == "补签"
