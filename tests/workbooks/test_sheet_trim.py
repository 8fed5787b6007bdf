"""Trimming a sheet's trailing empty rows changes no value calamine reads, and reading a
return with trimming gives the same raw return as without."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from nianbao.schemas.county import load_county
from nianbao.workbooks import reader
from nianbao.workbooks.layout import col_letter
from nianbao.workbooks.reader import read_return
from nianbao.workbooks.sample import write_sample_return
from nianbao.workbooks.sheet_trim import without_trailing_empty_rows

# Cell contents as Excel, WPS, LibreOffice and openpyxl write them; None: no value.
BODIES = {
    "/>": None,
    ' t="n"></c>': None,
    "><v>3</v></c>": 3.0,
    ' t="inlineStr"><is><t>城关镇</t></is></c>': "城关镇",
    ' t="inlineStr"><is><r><rPr><vertAlign val="superscript"/></rPr><t>2</t></r></is></c>': "2",
    ' t="b"><v>1</v></c>': True,
    "><f>1+1</f></c>": None,  # a formula never computed: no value, but it must stay for the markers
    "><f>1+1</f><v>2</v></c>": 2.0,
}


@pytest.fixture(scope="module")
def package() -> dict[str, bytes]:
    buf = io.BytesIO()
    Workbook().save(buf)
    with zipfile.ZipFile(buf) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _values(package: dict[str, bytes], sheet_xml: bytes) -> dict[tuple[int, int], object]:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in package.items():
            zf.writestr(name, sheet_xml if name == "xl/worksheets/sheet1.xml" else data)
    book = CalamineWorkbook.from_filelike(io.BytesIO(out.getvalue()))
    rows = book.get_sheet_by_name("Sheet").to_python(skip_empty_area=False)
    return {(r, c): v for r, line in enumerate(rows, 1) for c, v in enumerate(line, 1) if v != ""}


def _sheet(rows: list[list[str]], tail: str) -> bytes:
    lines = "".join(
        f'<row r="{r}">' + "".join(f'<c r="{col_letter(c)}{r}" s="1"{body}' for c, body in enumerate(cells, 1)) + "</row>"
        for r, cells in enumerate(rows, 1)
    )
    return (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        + lines
        + f"</sheetData>{tail}</worksheet>"
    ).encode()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(list(BODIES)), max_size=6), max_size=12),
    st.sampled_from(["", '<dataValidations count="1"><dataValidation sqref="A1:A9"><formula1>"是,否"</formula1></dataValidation></dataValidations>']),
)
@example([["><v>3</v></c>"], ["><f>1+1</f></c>", "/>"], ["/>"]], "")  # the last value is a formula
@example([[' t="inlineStr"><is><t>城关镇</t></is></c>'], ["/>"]], "")
def test_trimming_keeps_every_value(package, rows, tail):
    xml = _sheet(rows, tail)
    trimmed = without_trailing_empty_rows(xml)
    assert len(trimmed) <= len(xml)
    assert _values(package, trimmed) == _values(package, xml)
    for r, cells in enumerate(rows, 1):  # a formula cell is kept even without a value
        for c, body in enumerate(cells, 1):
            if "<f>" in body:
                assert f'<c r="{col_letter(c)}{r}"'.encode() in trimmed


def test_the_templates_empty_rows_are_cut_and_the_return_reads_the_same(tmp_path, monkeypatch):
    township = load_county().townships[0]
    path = write_sample_return(tmp_path / "城关镇.xlsx", township, "2025", seed=3, roster_rows=7, ledger_rows=2)
    with zipfile.ZipFile(path) as zf:
        sheets = [zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
    assert sum(map(len, map(without_trailing_empty_rows, sheets))) < 0.7 * sum(map(len, sheets))
    trimmed = read_return(path)
    monkeypatch.setattr(reader, "without_trailing_empty_rows", lambda xml: xml)
    whole = read_return(path)
    assert trimmed.values() == whole.values() and trimmed.meta == whole.meta
    assert trimmed.cells == whole.cells
    assert len(trimmed.roster) == 7 and len(trimmed.ledger) == 2
