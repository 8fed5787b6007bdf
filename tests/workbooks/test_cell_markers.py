"""Cell markers: the cell-by-cell lookup answers what the whole-sheet scan answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nianbao.schemas.coerce import ExcelError, FormulaWithoutValue
from nianbao.workbooks.cell_markers import all_markers, markers_at
from nianbao.workbooks.layout import col_letter

# What a cell's element can hold, as Excel, WPS, LibreOffice and openpyxl write it.
BODIES = [
    "/>",  # styled, empty
    ' t="n"></c>',
    "><v>3</v></c>",
    "><f>SUM(D4:D9)</f><v>12</v></c>",  # a formula with its result
    "><f>SUM(D4:D9)</f><v></v></c>",  # openpyxl with lxml: never computed
    "><f>A1&amp;&quot;x&quot;</f></c>",
    '><f t="shared" si="0"/></c>',
    ' t="str"><f>IF(A1,"","")</f><v></v></c>',  # a text formula whose result is ""
    ' t="e"><v>#DIV/0!</v></c>',
    ' t="e"><f>1/0</f><v>#DIV/0!</v></c>',  # an error computed by a formula
    ' t="inlineStr"><is><t>&lt;c r="B2"&gt;</t></is></c>',  # text that looks like a cell
]
cell = st.tuples(st.sampled_from(BODIES), st.sampled_from(["first", "second", "none"]))


def _xml(grid: dict[tuple[int, int], tuple[str, str]], shuffled: bool) -> bytes:
    rows = []
    for r in sorted({r for r, _ in grid}, reverse=shuffled):
        cells = []
        for (rr, c), (body, ref) in sorted(grid.items(), reverse=shuffled):
            if rr != r:
                continue
            at = f'r="{col_letter(c)}{r}"'
            head = {"first": f"<c {at} s=\"2\"", "second": f'<c s="2" {at}', "none": '<c s="2"'}[ref]
            cells.append(head + body)
        rows.append(f'<row r="{r}">' + "".join(cells) + "</row>")
    return ("<worksheet><sheetData>" + "".join(rows) + "</sheetData></worksheet>").encode()


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.tuples(st.integers(1, 12), st.integers(1, 30)), cell, max_size=25),
    st.lists(st.tuples(st.integers(1, 12), st.integers(1, 30)), max_size=15),
    st.booleans(),
)
def test_lookup_agrees_with_the_whole_sheet_scan(grid, asked, shuffled):
    xml = _xml(grid, shuffled)
    asked += list(grid)[:5]
    every = all_markers(xml)
    assert markers_at(xml, asked) == {pos: every[pos] for pos in asked if pos in every}


def test_what_is_marked():
    grid = {
        (4, 4): ("><f>SUM(D4:D9)</f><v></v></c>", "first"),
        (4, 5): ("><f>SUM(D4:D9)</f><v>12</v></c>", "first"),
        (5, 4): (' t="e"><v>#DIV/0!</v></c>', "first"),
        (5, 5): ("/>", "first"),
    }
    xml = _xml(grid, shuffled=False)
    asked = [(4, 4), (4, 5), (5, 4), (5, 5), (6, 6)]
    expected = {(4, 4): FormulaWithoutValue("=SUM(D4:D9)"), (5, 4): ExcelError("#DIV/0!")}
    assert markers_at(xml, asked) == expected
    assert markers_at(_xml(grid, shuffled=True), asked) == expected  # cells out of order
