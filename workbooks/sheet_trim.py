"""Drop a worksheet's trailing rows that hold no value before calamine parses it.

The template pre-formats 500 rows of 基层工会名册 and 300 of the ledger so townships can type
straight in; a township fills a few dozen to a hundred. Every pre-formatted cell is an element
in the sheet's XML (``<c r="P480" s="10"/>``), and calamine parses each one only to yield an
empty cell: on a typical return two thirds of the roster's XML. The rows after the last cell
that holds a value (``<v>``, an inline string ``<is>`` or a formula ``<f>``) are cut out, so
calamine's values are the same at every cell that has one, and the grid simply ends sooner.

The reader checks the size limits and looks up error/formula markers on the trimmed XML, which
is exactly what calamine is given.
"""

from __future__ import annotations

_END = b"</sheetData>"
_CONTENT = (b"<v", b"<is>", b"<f")  # what a cell with a value (or a formula) contains


def without_trailing_empty_rows(xml: bytes) -> bytes:
    """``xml`` without the rows after its last cell holding a value (unchanged when unsure:
    no ``</sheetData>``, no value at all, or the last value's row not closed before it)."""
    end = xml.rfind(_END)
    if end < 0:
        return xml
    last = max(xml.rfind(needle, 0, end) for needle in _CONTENT)
    if last < 0:
        return xml
    row_end = xml.find(b"</row>", last, end)
    if row_end < 0 or row_end + len(b"</row>") == end:
        return xml
    return xml[: row_end + len(b"</row>")] + xml[end:]
