"""Blank-looking cells that are not blank: an Excel error value, or a formula without a result.

calamine reads a cell showing ``#DIV/0!`` as empty, and a formula no program ever computed
(openpyxl and other tools write formulas without a cached ``<v>``) as empty too. Neither must be
reported as 未填写, so the reader asks this module, for the input cells it found empty, what a
worksheet's XML (.xlsx/.xlsm) says about them.

:func:`markers_at` looks each asked cell up by its reference (``<c r="F4"``), so the cost follows
the number of empty inputs, not the number of formulas in the sheet (the template's 主要指标
carries a self-check formula on every row). :func:`all_markers` scans the whole sheet; it is the
definition, and the fallback for a writer that leaves out cell references.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nianbao.schemas.coerce import ExcelError, FormulaWithoutValue
from nianbao.workbooks.layout import col_index, col_letter

Position = tuple[int, int]  # (row, column), 1-based
Marker = ExcelError | FormulaWithoutValue

_FORMULA = re.compile(rb"<f\b[^>]*?(?:/>|>(.*?)</f>)", re.S)
_ANY_FORMULA = re.compile(rb"<f[ >/]")
_CELL_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
# A cached result is a non-empty <v>: openpyxl writes <v></v> for a formula it never
# computed when lxml is installed (python-docx brings it), <v /> without.
_CACHED = re.compile(rb"<v>[^<]")
_ERROR_MARK = re.compile(rb't="e"')
_ERROR_CELL = re.compile(rb'<c r="([A-Z]+)(\d+)"[^>]*?\bt="e"[^>]*>(?:(?!</c>).)*?<v>([^<]*)</v>', re.S)
_CELL_WITHOUT_REF = re.compile(rb'<c(?! r=")[ >/]')


def _xml_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'").replace("&amp;", "&")


def formulas_without_value(xml: bytes) -> dict[Position, str]:
    """(row, col) -> formula text for cells that have a formula but no cached ``<v>``."""
    if not _ANY_FORMULA.search(xml):
        return {}
    found = {}
    for m in _FORMULA.finditer(xml):
        start = xml.rfind(b"<c ", 0, m.start())
        end = xml.find(b"</c>", m.end())
        end = end if end >= 0 else len(xml)
        tag_end = xml.find(b">", start)
        if start < 0 or _CACHED.search(xml, m.end(), end):
            continue
        if b't="str"' in xml[start:tag_end] and b"<v>" in xml[m.end() : end]:
            continue  # a text formula whose cached result is ""
        ref = _CELL_REF.search(xml, start, tag_end)
        if ref:
            text = (m.group(1) or b"").decode("utf-8", "replace")
            found[(int(ref.group(2)), col_index(ref.group(1).decode()))] = "=" + _xml_unescape(text)
    return found


def error_cells(xml: bytes) -> dict[Position, ExcelError]:
    """Cells showing an Excel error value."""
    if not _ERROR_MARK.search(xml):  # a regex finds this needle faster than ``in`` does
        return {}
    return {(int(m.group(2)), col_index(m.group(1).decode())): ExcelError(m.group(3).decode("utf-8", "replace")) for m in _ERROR_CELL.finditer(xml)}


def all_markers(xml: bytes) -> dict[Position, Marker]:
    """Every marked cell of a sheet (a formula wins over an error value)."""
    return {**error_cells(xml), **{pos: FormulaWithoutValue(text) for pos, text in formulas_without_value(xml).items()}}


def markers_at(xml: bytes, cells: Iterable[Position]) -> dict[Position, Marker]:
    """Of ``cells``, those :func:`all_markers` would mark, found cell by cell."""
    wanted = sorted(set(cells))
    if not wanted or not (_ANY_FORMULA.search(xml) or _ERROR_MARK.search(xml)):
        return {}
    found: dict[Position, Marker] = {}
    start = 0
    without_refs: bool | None = None
    for row, col in wanted:
        tag = b'<c r="%s%d"' % (col_letter(col).encode(), row)
        at = xml.find(tag, start)
        if at < 0:
            at = xml.find(tag)  # a writer that does not keep cells in order
        if at < 0:
            if without_refs is None:
                without_refs = _CELL_WITHOUT_REF.search(xml) is not None
            if without_refs:  # the cell may be there, placed by its position alone
                every = all_markers(xml)
                return {pos: every[pos] for pos in wanted if pos in every}
            continue  # not written at all: truly empty
        start = at
        tag_end = xml.find(b">", at)
        if tag_end < 0 or xml[tag_end - 1] == ord("/"):
            continue  # <c r="F4" s="3"/>: no content
        end = xml.find(b"</c>", tag_end)
        element = xml[at : end + 4 if end >= 0 else len(xml)]
        if b"<f" in element or b't="e"' in element:
            marker = all_markers(element).get((row, col))
            if marker is not None:
                found[(row, col)] = marker
    return found
