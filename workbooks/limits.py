"""Resource limits for reading a township's file: checked before anything large is expanded.

An .xlsx/.ods file is a zip. A "zip bomb" declares (or hides) parts that expand to gigabytes;
calamine and openpyxl would expand them into memory. So, from the zip's central directory and
before any part is read:

* every part's declared uncompressed size, the total, and each part's compression ratio are
  bounded (:func:`zip_problem`);
* the parts the reader uses are then expanded through ``zipfile`` once, which stops at the
  declared size and checks the CRC, so a part whose directory entry lies is refused as damaged,
  never expanded (:func:`parts_problem`). calamine is given those checked parts alone, so what
  it parses is what was checked; parts nobody reads (theme, images, printer settings) are
  neither expanded nor read.

A worksheet's extent (last row and column used) is read from its XML before calamine builds
its dense grid (one stray cell at XFD1048576 would otherwise ask for 17 billion cells), and a
detail sheet over :data:`MAX_ROWS` rows is refused with a message saying so.

Each function returns a Chinese message for the file, or None when the file is within limits.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable

MAX_PART_BYTES = 64 * 1024**2  # one part (a sheet's XML) expanded
MAX_TOTAL_BYTES = 128 * 1024**2  # all parts expanded
MAX_RATIO = 200  # expanded / compressed, for parts above RATIO_FLOOR
RATIO_FLOOR = 1024**2
MAX_ROWS = 20_000  # rows of one sheet (the template holds a few hundred)
MAX_CELLS = 2_000_000  # rows x columns of one sheet's used extent
MAX_FILE_BYTES = 64 * 1024**2  # a file on disk (an .xls is not compressed)

_SEND = "请删除多余的行、列和对象后另存为 .xlsx 再报送；如确有大量数据，请与县总工会联系"
_WIDE_REF = re.compile(rb'<c r="([A-Z]{2,3})\d')  # a cell beyond column Z
_ROW_REF = re.compile(rb'<row r="(\d{1,7})"')
# What a sheet needs to reach a limit: a row from 10 000 on, a row without a leading reference
# (then rows are counted), a cell from column AA on. Without any, it is at most 9 999 × 26.
_FAR_ROW = re.compile(rb'<row(?! r=")|<row r="\d{5}')
_FAR_COL = re.compile(rb'<c r="[A-Z]{2}')


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.0f} MB"


def file_problem(name: str, size: int) -> str | None:
    if size > MAX_FILE_BYTES:
        return f"文件「{name}」大小为 {_mb(size)}，超过上限 {_mb(MAX_FILE_BYTES)}，未读取。{_SEND}"
    return None


def zip_problem(zf: zipfile.ZipFile, name: str) -> str | None:
    """Why the zip ``zf`` must not be expanded, from its directory alone: every part's declared
    size and compression ratio, and the total."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MAX_PART_BYTES or (info.file_size > RATIO_FLOOR and ratio > MAX_RATIO):
            return (
                f"文件「{name}」内部的「{info.filename[:60]}」解压后为 {_mb(info.file_size)}（压缩比 {ratio:,.0f} 倍），"
                f"超过上限（单个部件 {_mb(MAX_PART_BYTES)}、压缩比 {MAX_RATIO} 倍），未读取。{_SEND}"
            )
    if total > MAX_TOTAL_BYTES:
        return f"文件「{name}」解压后共 {_mb(total)}，超过上限 {_mb(MAX_TOTAL_BYTES)}，未读取。{_SEND}"
    return None


def parts_problem(zf: zipfile.ZipFile, name: str, parts: Iterable[str], keep: dict[str, bytes] | None = None) -> str | None:
    """Why the ``parts`` of a zip whose directory passed :func:`zip_problem` cannot be used:
    each is expanded through ``zipfile``, which stops at the declared size and checks the CRC,
    so a part whose directory entry lies is refused as damaged, never expanded further. The
    checked bytes go into ``keep`` when given (the reader hands exactly these to calamine),
    else they are streamed and dropped."""
    try:
        for part in parts:
            if keep is not None:
                keep[part] = zf.read(part)
                continue
            with zf.open(part) as stream:
                while stream.read(1 << 20):
                    pass
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError):
        return f"文件「{name}」已损坏（压缩包内容与目录不符），无法读取；请用 Excel 或 WPS 打开后另存为 .xlsx 再报送"
    return None


def sheet_extent(xml: bytes) -> tuple[int, int]:
    """(last row, last column) a worksheet's XML reaches, as an upper bound.

    Rows from the row references (or, without them, the number of rows); columns from the
    references beyond column Z, else 26. Two scans for rare patterns, cheap next to reading.
    """
    rows = [int(r) for r in _ROW_REF.findall(xml)]
    last_row = max(rows) if rows else xml.count(b"<row")
    last_col = 26
    for letters in set(_WIDE_REF.findall(xml)):
        col = 0
        for ch in letters:
            col = col * 26 + ch - 64
        last_col = max(last_col, col)
    return last_row, last_col


def sheet_problem(name: str, sheet: str, xml: bytes) -> str | None:
    """:func:`extent_problem` of :func:`sheet_extent`, skipping the extent when two scans show
    the sheet cannot reach a limit (the usual case: one third of the cost)."""
    if MAX_ROWS >= 9_999 and MAX_CELLS >= 9_999 * 26 and not _FAR_ROW.search(xml) and not _FAR_COL.search(xml):
        return None
    return extent_problem(name, sheet, *sheet_extent(xml))


def extent_problem(name: str, sheet: str | None, rows: int, cols: int) -> str | None:
    where = f"的工作表「{sheet}」" if sheet else "中有工作表"
    if rows > MAX_ROWS:
        return f"文件「{name}」{where}用到了第 {rows:,} 行，超过上限 {MAX_ROWS:,} 行，未读取。{_SEND}"
    if rows * cols > MAX_CELLS:
        return (
            f"文件「{name}」{where}用到的区域为 {rows:,} 行 × {cols:,} 列，超过上限 {MAX_CELLS:,} 个单元格，"
            f"未读取。{_SEND}"
        )
    return None


# .xls (BIFF8 inside an OLE compound file): calamine sizes a sheet's grid from its DIMENSIONS
# record and its cells as it opens the file, so the extent is read from the records first.
_BIFF_BOF, _BIFF_EOF, _BIFF_DIMENSIONS = 0x0809, 0x000A, 0x0200
_BIFF_CELLS = {0x0203, 0x00FD, 0x027E, 0x0201, 0x0006, 0x0205, 0x0204, 0x00D6}  # row u16, col u16 first
_BIFF_MULTI = {0x00BD, 0x00BE}  # MULRK / MULBLANK: row, first col, ..., last col (u16) at the end


def xls_extent(stream: bytes) -> tuple[int, int]:
    """(rows, columns) of the largest sheet a BIFF8 ``Workbook`` stream describes."""
    worst_rows = worst_cols = rows = cols = 0
    pos, end = 0, len(stream)
    while pos + 4 <= end:
        kind = int.from_bytes(stream[pos : pos + 2], "little")
        size = int.from_bytes(stream[pos + 2 : pos + 4], "little")
        body = stream[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if kind == _BIFF_BOF:
            rows = cols = 0
        elif kind == _BIFF_DIMENSIONS and len(body) >= 12:
            rows = max(rows, int.from_bytes(body[4:8], "little"))
            cols = max(cols, int.from_bytes(body[10:12], "little"))
        elif kind in _BIFF_CELLS and len(body) >= 4:
            rows = max(rows, int.from_bytes(body[0:2], "little") + 1)
            cols = max(cols, int.from_bytes(body[2:4], "little") + 1)
        elif kind in _BIFF_MULTI and len(body) >= 6:
            rows = max(rows, int.from_bytes(body[0:2], "little") + 1)
            cols = max(cols, int.from_bytes(body[-2:], "little") + 1)
        elif kind == _BIFF_EOF:
            worst_rows, worst_cols = max(worst_rows, rows), max(worst_cols, cols)
    return max(worst_rows, rows), max(worst_cols, cols)


def xls_problem(path, name: str) -> str | None:
    """Why an .xls file must not be opened: a sheet whose extent is over the limits."""
    import olefile

    try:
        with olefile.OleFileIO(str(path)) as ole:
            stream = next((s for s in ("Workbook", "Book") if ole.exists(s)), None)
            if stream is None:
                return None  # not a BIFF workbook (an encrypted .xlsx, say): the reader says what it is
            rows, cols = xls_extent(ole.openstream(stream).read())
    except Exception:  # olefile raises many kinds on a damaged file: the reader reports it as such
        return None
    return extent_problem(name, None, rows, cols)


# .ods: a row or cell may say "repeat me N times"; calamine expands that into its dense grid
# (a 1-KB file can ask for gigabytes). Only repeats that carry content count: LibreOffice ends
# every sheet with a million repeated *empty* rows, which calamine leaves out.
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def ods_extent(content) -> tuple[int, int]:
    """(rows, columns) up to the last cell with content, of the largest table in ``content.xml``."""
    from xml.etree.ElementTree import iterparse

    worst_rows = worst_cols = row = col = last_row = row_last_col = 0
    for event, el in iterparse(content, events=("start", "end")):
        tag = el.tag
        if event == "start":
            if tag == _TABLE + "table":
                row = last_row = 0
            elif tag == _TABLE + "table-row":
                col = row_last_col = 0
            continue
        if tag in (_TABLE + "table-cell", _TABLE + "covered-table-cell"):
            reps = int(el.get(_TABLE + "number-columns-repeated", "1"))
            if el.get(_OFFICE + "value-type") is not None or "".join(el.itertext()).strip():
                row_last_col = col + reps
            col += reps
            el.clear()
        elif tag == _TABLE + "table-row":
            reps = int(el.get(_TABLE + "number-rows-repeated", "1"))
            if row_last_col:
                last_row = row + reps
                worst_cols = max(worst_cols, row_last_col)
            row += reps
            el.clear()
        elif tag == _TABLE + "table":
            worst_rows = max(worst_rows, last_row)
            el.clear()
    return worst_rows, worst_cols


def ods_problem(zf: zipfile.ZipFile, name: str) -> str | None:
    """Why an .ods file must not be opened: a table whose content reaches beyond the limits."""
    try:
        with zf.open("content.xml") as content:
            rows, cols = ods_extent(content)
    except (KeyError, ValueError, SyntaxError):  # no content or not XML: the reader says it is damaged
        return None
    return extent_problem(name, None, rows, cols)
