"""Read a township return (.xlsx, .xlsm, .xls, .ods) into raw cell values, fast.

Values come from python-calamine; for .xlsx/.xlsm the defined names are taken from
``xl/workbook.xml`` alone (openpyxl is never used here). Every input is located by its anchor,
the thing a person sees next to it: the indicator code in the 代码 column, the cover label to
its left, the table header above. The defined names are the first guess (a table's named range
is used as is when its header sits right above it; the summary's names give the columns when
its header row is gone), so a row inserted in Excel (which moves names) and one inserted by a
tool that does not move names read the same, and .xls/.ods files written by other tools
(no names) are read by anchors alone. A missing or duplicated anchor rejects the file as
``file.moved_inputs``: a value is never taken from a cell whose meaning is in doubt.

An .xlsx/.xlsm is read from disk once. The parts calamine reads (relationships, workbook,
worksheets, shared strings, styles) are expanded and checked against :mod:`limits`, each
worksheet loses its trailing rows without values (:mod:`sheet_trim`: the template's
pre-formatted rows), and calamine is handed exactly those bytes as an uncompressed zip: it parses
what was checked, and inflates nothing a second time.

No coercion happens here: values are what calamine returns (str/int/float/bool/date/datetime),
an empty cell is ``None``, and an input cell holding a formula without a cached result becomes
:class:`nianbao.schemas.coerce.FormulaWithoutValue`. Coercion and rules are the schema's job.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from xml.etree import ElementTree as ET

import python_calamine
from python_calamine import CalamineWorkbook

from nianbao.schemas.coerce import is_blank
from nianbao.schemas.findings import Finding, error
from nianbao.schemas.indicators import INDICATORS, RATES
from nianbao.schemas.version import TEMPLATE_VERSION, schema_fingerprint
from nianbao.workbooks import layout as L
from nianbao.workbooks import limits
from nianbao.workbooks.cell_markers import Marker, markers_at
from nianbao.workbooks.sheet_trim import without_trailing_empty_rows

_CONTENT_BY_SUFFIX = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods"}
SUPPORTED = tuple(_CONTENT_BY_SUFFIX)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pr": "http://schemas.openxmlformats.org/package/2006/relationships",
}
_HINT = "请不要插入或删除行、列，不要修改代码列、标签和表头；请在县里下发的模板中重新填写后报送"


class ReturnReadError(Exception):
    """A file that cannot be read as a return. ``code`` is stable, ``message`` Chinese."""

    def __init__(self, code: str, message: str, sheet: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.sheet = sheet

    def finding(self) -> Finding:
        """The error as a validation finding (for reports)."""
        return error(self.code, self.message, sheet=self.sheet)


@dataclass
class RawReturn:
    path: Path
    meta: dict[str, str]
    cover: dict[str, object]
    summary: dict[str, object]
    roster: list[dict[str, object]]
    ledger: list[dict[str, object]]
    cells: L.CellMap = field(repr=False)
    aid: list[dict[str, object]] = field(default_factory=list)  # 帮扶汇总 (a return reported upward)
    notes: dict[str, object] = field(default_factory=dict)  # indicator code -> 情况说明 as typed

    @property
    def township_code(self) -> str | None:
        """The cover's township code (as typed), else the one the template was made for."""
        code = self.cover.get("township_code")
        return str(code).strip() if not is_blank(code) else self.meta.get("township_code")

    def values(self) -> dict:
        """The raw values in the shape :func:`nianbao.workbooks.sample.sample_return` produces
        (``notes`` only when a 情况说明 is filled)."""
        out = {"cover": self.cover, "summary": self.summary, "roster": self.roster, "ledger": self.ledger, "aid": self.aid}
        filled = {code: note for code, note in self.notes.items() if not is_blank(note)}
        return out | ({"notes": filled} if filled else {})


# --------------------------------------------------------------------------------------------
# opening


_SAVE_AS = "请打开后用「文件 → 另存为」选择「Excel 工作簿（*.xlsx）」保存，再报送该 .xlsx 文件"
_PAPER = "请不要报送纸质报表的照片或扫描件；请在县里下发的 Excel 模板中填写，报送 .xlsx 文件（盖章的纸质报表另行交县总工会）"
# Files townships really send instead of a return, and what to send instead.
WRONG_FORMATS = {
    ".et": ("WPS 表格格式（.et）", "请在 WPS 中" + _SAVE_AS[1:]),
    ".ett": ("WPS 表格模板格式（.ett）", "请在 WPS 中" + _SAVE_AS[1:]),
    ".wps": ("WPS 文字文档（.wps）", "年报须用县里下发的 Excel 模板填写；请在模板中填写后报送 .xlsx 文件"),
    ".numbers": ("苹果 Numbers 格式（.numbers）", "请在 Numbers 中用「文件 → 导出为 → Excel」导出 .xlsx 文件后报送"),
    ".csv": ("CSV 文本格式（.csv）", "CSV 不含模板的工作表和格式；请在县里下发的 Excel 模板中填写后报送 .xlsx 文件"),
    ".pdf": ("PDF 文件", _PAPER),
    **{s: ("图片", _PAPER) for s in (".jpg", ".jpeg", ".png", ".heic", ".bmp", ".tif", ".tiff")},
    **{
        s: (f"压缩包（{s}）", "压缩包不会被解压读取；请解压后把其中每个乡镇的 .xlsx 年报分别放入收件箱（或分别发送）")
        for s in (".zip", ".rar", ".7z")
    },
}


def _sniff(path: Path) -> str:
    """'xlsx' | 'xls' | 'ods' by content (people rename files), else a ReturnReadError."""
    wrong = WRONG_FORMATS.get(path.suffix.lower())
    if wrong is not None:
        kind, advice = wrong
        raise ReturnReadError("file.wrong_format", f"文件「{path.name}」是{kind}，不是 Excel 年报，无法读取。{advice}")
    if path.suffix.lower() not in SUPPORTED:
        raise ReturnReadError(
            "file.not_return",
            f"文件「{path.name}」的类型不受支持（{path.suffix or '无扩展名'}），请报送 .xlsx、.xls 或 .ods 格式的年报",
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except FileNotFoundError:
        raise ReturnReadError("file.unreadable", f"找不到文件「{path}」") from None
    except OSError as exc:
        raise ReturnReadError("file.unreadable", f"无法打开文件「{path.name}」：{exc.strerror or exc}") from None
    too_big = limits.file_problem(path.name, path.stat().st_size)
    if too_big:
        raise ReturnReadError("file.too_large", too_big)
    if head.startswith(_OLE_MAGIC):
        return "xls"
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    raise ReturnReadError("file.unreadable", f"文件「{path.name}」已损坏或不是 Excel 文件，无法打开；请用 Excel 或 WPS 打开确认后重新保存报送")


_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")  # stream of a password-protected .xlsx


def _unreadable(path: Path, detail: object = "") -> ReturnReadError:
    """The error for a file that looked like a spreadsheet but could not be read."""
    text = str(detail).lower()
    try:
        encrypted = "password" in text or "encrypt" in text or _ENCRYPTED in path.read_bytes()
    except OSError:
        encrypted = False
    if encrypted:
        return ReturnReadError("file.unreadable", f"文件「{path.name}」设置了打开密码，无法读取；请取消密码后重新报送")
    return ReturnReadError("file.unreadable", f"文件「{path.name}」已损坏或格式不正确，无法读取；请用 Excel 或 WPS 打开后另存为 .xlsx 再报送")


@dataclass
class _Package:
    """What the zip of an .xlsx says about names and sheet parts (empty for .xls/.ods)."""

    names: dict[str, str] = field(default_factory=dict)  # NAME -> its reference as written, parsed on use
    sheet_rids: dict[str, str] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)  # relationship id -> part
    parts: dict[str, bytes] = field(default_factory=dict)  # part -> checked bytes (what calamine reads)
    stored: bytes | None = None  # ``parts`` as an uncompressed zip, for calamine

    def sheet_xml(self, sheet: str) -> bytes | None:
        part = self.targets.get(self.sheet_rids.get(sheet, ""))
        return self.parts.get(part) if part else None


# The parts calamine reads: the package's and the workbook's relationships, the workbook, and
# the workbook's worksheets, shared strings and styles (by relationship type).
_ROOT_RELS, _WORKBOOK, _WORKBOOK_RELS = "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"
_READ_TYPES = ("/worksheet", "/sharedStrings", "/styles")


def _package(path: Path) -> tuple[str, _Package]:
    try:
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:  # one read: what is checked is what is parsed
            bomb = limits.zip_problem(zf, path.name)
            if bomb:
                raise ReturnReadError("file.too_large", bomb)
            members = set(zf.namelist())
            if _WORKBOOK not in members:
                if "mimetype" in members and b"spreadsheet" in zf.read("mimetype"):
                    damaged = limits.parts_problem(zf, path.name, zf.namelist())  # calamine reads the .ods itself
                    if damaged:
                        raise ReturnReadError("file.unreadable", damaged)
                    too_big = limits.ods_problem(zf, path.name)
                    if too_big:
                        raise ReturnReadError("file.too_large", too_big)
                    return "ods", _Package()
                raise ReturnReadError("file.not_return", f"文件「{path.name}」不是电子表格（可能是 Word 等其他文件），不是乡镇工会年报")
            parts: dict[str, bytes] = {}
            damaged = limits.parts_problem(zf, path.name, [p for p in (_ROOT_RELS, _WORKBOOK, _WORKBOOK_RELS) if p in members], parts)
            targets: dict[str, str] = {}
            if not damaged:
                targets, read = _targets(ET.fromstring(parts[_WORKBOOK_RELS]) if _WORKBOOK_RELS in parts else None)
                damaged = limits.parts_problem(zf, path.name, [p for p in read if p in members], parts)
                for part, kind in read.items():
                    if kind == "/worksheet" and part in parts:
                        parts[part] = without_trailing_empty_rows(parts[part])
            if damaged:
                raise ReturnReadError("file.unreadable", damaged)
            root = ET.fromstring(parts[_WORKBOOK])
    except (zipfile.BadZipFile, ET.ParseError, KeyError, OSError) as exc:
        raise _unreadable(path, exc) from None
    names = {}
    for dn in root.iterfind("m:definedNames/m:definedName", _NS):
        if dn.get("localSheetId") is None and dn.text:
            names[dn.get("name", "").upper()] = dn.text
    rids = {s.get("name", ""): s.get(f"{{{_NS['r']}}}id", "") for s in root.iterfind("m:sheets/m:sheet", _NS)}
    return "xlsx", _Package(names, rids, targets, parts, _stored(parts))


def _targets(rels: ET.Element | None) -> tuple[dict[str, str], dict[str, str]]:
    """(relationship id -> part, part calamine reads -> its kind) from the workbook's relationships."""
    targets, read = {}, {}
    for rel in rels.findall("pr:Relationship", _NS) if rels is not None else ():
        target = rel.get("Target", "")
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        targets[rel.get("Id", "")] = part
        kind = next((k for k in _READ_TYPES if rel.get("Type", "").endswith(k)), None)
        if kind is not None:
            read[part] = kind
    return targets, read


def _stored(parts: dict[str, bytes]) -> bytes:
    """``parts`` as an uncompressed zip: calamine then parses the bytes that were checked, and
    does not expand them a second time (a sixth of its time on a typical return)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for part, data in parts.items():
            zf.writestr(part, data)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# grids


class _Grid:
    """A sheet's values as calamine returns them, addressed 1-based; '' counts as empty."""

    def __init__(self, name: str, rows: list[list]):
        self.name = name
        self.rows = rows

    def get(self, row: int, col: int) -> object:
        if 1 <= row <= len(self.rows):
            line = self.rows[row - 1]
            if 1 <= col <= len(line):
                value = line[col - 1]
                return None if value == "" else value
        return None

    def text(self, row: int, col: int) -> str:
        value = self.get(row, col)
        return _anchor_text(value) if isinstance(value, str) else ""


def _anchor_text(text: str) -> str:
    """A label as typed, without white space or a trailing colon / required mark."""
    return "".join(text.split()).rstrip("：:*＊")


def _header_rows(grid: _Grid, first: str):
    """(row, {text: col}) for every row that has a cell reading ``first``."""
    for r, line in enumerate(grid.rows, start=1):
        if not any(isinstance(v, str) and first in v for v in line):
            continue
        texts = [_anchor_text(v) if isinstance(v, str) else "" for v in line]
        if first in texts:
            yield r, {t: c for c, t in enumerate(texts, start=1) if t}


# --------------------------------------------------------------------------------------------
# locating inputs


class _Problems:
    """Inputs that could not be placed, reported together as file.moved_inputs."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, sheet: str, text: str) -> None:
        self.items.append((sheet, text))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        sheet = self.items[0][0]
        shown = "；".join(f"「{s}」{t}" for s, t in self.items[:5])
        more = f"（另有 {len(self.items) - 5} 处）" if len(self.items) > 5 else ""
        raise ReturnReadError("file.moved_inputs", f"表格结构被改动，无法确定填写位置：{shown}{more}。{_HINT}", sheet)


def _name_ref(names: dict[str, str], name: str, sheet: str) -> L.Ref | None:
    text = names.get(name.upper())
    ref = L.Ref.parse(text) if text else None
    return ref if ref is not None and ref.sheet == sheet else None


def _locate_summary(grid: _Grid, names: dict[str, str], problems: _Problems) -> dict[str, L.Position]:
    """Indicator (and rate) code -> value cell: the one row carrying the code in the 代码 column,
    in the 本期数值 column. The columns come from the header row; without one, from a defined
    name whose row carries its code; else from the layout."""
    sheet = grid.name
    code_header, value_header = (L.SUMMARY_COLUMNS[L.SUMMARY_COL[k] - 1].header for k in ("code", "value"))
    headers = [(r, cols) for r, cols in _header_rows(grid, code_header) if value_header in cols]
    if len(headers) > 1:
        problems.add(sheet, f"表头「{code_header}」「{value_header}」出现在第 {'、'.join(str(r) for r, _ in headers)} 行")
        return {}
    if headers:
        code_col, value_col = headers[0][1][code_header], headers[0][1][value_header]
    else:
        code_col, value_col = _columns_from_names(grid, names) or (L.SUMMARY_COL["code"], L.SUMMARY_COL["value"])
    rows_of: dict[str, list[int]] = {}
    for r in range(1, len(grid.rows) + 1):
        code = grid.text(r, code_col)
        if code:
            rows_of.setdefault(code, []).append(r)
    cells: dict[str, L.Position] = {}
    for ind in INDICATORS:
        found = rows_of.get(ind.code, [])
        if len(found) == 1:
            cells[ind.code] = (sheet, found[0], value_col)
            continue
        where = f"代码列（{L.col_letter(code_col)} 列）中" + ("找不到" if not found else f"第 {'、'.join(map(str, found))} 行都是")
        ref = _name_ref(names, L.indicator_name(ind.code), sheet)
        pointed = f"，名称 {L.indicator_name(ind.code)} 指向 {L.a1(ref.row, ref.col)}" if ref is not None else ""
        problems.add(sheet, f"指标 {ind.code}【{ind.label}】：{where}代码「{ind.code}」{pointed}")
    for rate in RATES:
        found = rows_of.get(rate.code, [])
        cells[rate.code] = (sheet, found[0] if len(found) == 1 else L.SUMMARY_ROW_OF[rate.code], value_col)
    return cells


def _locate_notes(grid: _Grid, names: dict[str, str], values: dict[str, L.Position]) -> dict[str, L.Position]:
    """Indicator code -> its 情况说明 cell: on the indicator's row, in the column the defined
    names ``NB_NOTE_<code>`` give when one of them sits on its indicator's row, else the one
    under the 情况说明 header. None of them (an older layout, a tool that dropped the column):
    no notes, which is not an error: a 情况说明 is optional."""
    col = None
    for code, (_, row, _) in values.items():
        ref = _name_ref(names, L.note_name(code), grid.name)
        if ref is not None and ref.row == row:
            col = ref.col
            break
    if col is None:
        found = [cols[L.NOTE_HEADER] for _, cols in _header_rows(grid, L.NOTE_HEADER)]
        col = found[0] if len(found) == 1 else None
    if col is None:
        return {}
    return {ind.code: (grid.name, values[ind.code][1], col) for ind in INDICATORS if ind.code in values}


def _columns_from_names(grid: _Grid, names: dict[str, str]) -> tuple[int, int] | None:
    """(code column, value column) from the first indicator name whose row carries its code."""
    for ind in INDICATORS:
        ref = _name_ref(names, L.indicator_name(ind.code), grid.name)
        if ref is not None and 1 <= ref.row <= len(grid.rows):
            for c in range(1, len(grid.rows[ref.row - 1]) + 1):
                if grid.text(ref.row, c) == ind.code:
                    return c, ref.col
    return None


def _locate_cover(grid: _Grid, problems: _Problems) -> dict[str, L.Position]:
    """Cover field -> value cell: right of the one cell carrying the field's label (where a
    template's name points unless rows or columns were moved)."""
    sheet = grid.name
    labels: dict[str, list[tuple[int, int]]] = {}
    wanted = {spec.label for spec in L.COVER_SPECS}
    for r, line in enumerate(grid.rows, start=1):
        for c, value in enumerate(line, start=1):
            if isinstance(value, str) and (text := _anchor_text(value)) in wanted:
                labels.setdefault(text, []).append((r, c))
    cells: dict[str, L.Position] = {}
    for spec in L.COVER_SPECS:
        found = labels.get(spec.label, [])
        if len(found) == 1:
            cells[spec.name] = (sheet, found[0][0], found[0][1] + 1)
        else:
            where = "找不到标签" if not found else f"标签出现在 {'、'.join(L.a1(r, c) for r, c in found)}"
            problems.add(sheet, f"【{spec.label}】：{where}「{spec.label}」")
    return cells


def _locate_table(grid: _Grid, table: L.DetailTable, names: dict[str, str], problems: _Problems) -> tuple[int, dict[str, int]] | None:
    """(header row, column by field): the named range if the header sits right above it, else
    the one row carrying every header."""
    headers = table.headers
    ref = _name_ref(names, table.range_name, grid.name)
    if ref is not None and all(grid.text(ref.row - 1, ref.col + i) == _anchor_text(h) for i, h in enumerate(headers)):
        return ref.row - 1, {s.name: ref.col + i for i, s in enumerate(table.specs)}
    wanted = [_anchor_text(h) for h in headers]
    matches = [
        (r, {s.name: cols[w] for s, w in zip(table.specs, wanted)})
        for r, cols in _header_rows(grid, wanted[0])
        if all(w in cols for w in wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        problems.add(grid.name, f"表头出现在第 {'、'.join(str(r) for r, _ in matches)} 行")
    else:
        problems.add(grid.name, f"找不到表头行（应依次包含：{'、'.join(headers)}）")
    return None


def _table_rows(grid: _Grid, header_row: int, columns: dict[str, int]) -> tuple[list[dict], list[int], list[tuple[int, int]]]:
    """The non-blank rows below the header (to the end of the sheet), their sheet rows, and
    the (row, col) of the empty cells inside them."""
    rows, numbers, empty = [], [], []
    names, cols = list(columns), list(columns.values())
    last = max(cols)
    take = itemgetter(*(c - 1 for c in cols)) if len(cols) > 1 else (lambda line: (line[cols[0] - 1],))
    for r, line in enumerate(grid.rows[header_row:], start=header_row + 1):
        width = len(line)
        if line.count("") == width:
            continue
        values = take(line) if width >= last else tuple(line[c - 1] if c <= width else "" for c in cols)
        if all(is_blank(v) for v in values):
            continue
        record = dict(zip(names, values))
        if "" in values:
            for name, c, v in zip(names, cols, values):
                if v == "":
                    record[name] = None
                    empty.append((r, c))
        rows.append(record)
        numbers.append(r)
    return rows, numbers, empty


# --------------------------------------------------------------------------------------------
# error values and formulas without cached values (xlsx only)


def _markers_in(package: _Package, sheet: str, blank: list[tuple[int, int]]) -> dict[tuple[int, int], Marker]:
    """Of the blank input cells, those showing an error value or holding a formula without a
    cached result (xlsx only; see :mod:`nianbao.workbooks.cell_markers`)."""
    xml = package.sheet_xml(sheet) if blank else None
    return markers_at(xml, blank) if xml else {}


# --------------------------------------------------------------------------------------------
# identity: is it a return, of this template, with all its sheets


def _sheet_rows(path: Path, book: CalamineWorkbook, package: _Package, sheet: str) -> list[list]:
    """A sheet's values, refused before loading when its extent is over the limits (xlsx: from
    its XML, before calamine builds a dense grid; .xls/.ods: from the loaded sheet)."""
    xml = package.sheet_xml(sheet)
    if xml is not None:
        problem = limits.sheet_problem(path.name, sheet, xml)
        if problem:
            raise ReturnReadError("file.too_large", problem, sheet)
    loaded = book.get_sheet_by_name(sheet)
    problem = limits.extent_problem(path.name, sheet, loaded.height, loaded.width)
    if problem:
        raise ReturnReadError("file.too_large", problem, sheet)
    try:
        return loaded.to_python(skip_empty_area=False)
    except BaseException as exc:  # noqa: BLE001 (pyo3's PanicException derives from BaseException)
        if type(exc).__name__ != "PanicException":
            raise
    # calamine panics on some values it cannot convert (a date-formatted cell holding a number
    # far outside Excel's dates); openpyxl reads such a cell as #VALUE!, a cell-level finding.
    if xml is None:
        raise ReturnReadError(
            "file.unreadable", f"文件「{path.name}」的「{sheet}」表中有无法读取的单元格值（如超出范围的日期）；请检查后另存为 .xlsx 再报送", sheet
        )
    return _rows_by_openpyxl(path, sheet)


def _rows_by_openpyxl(path: Path, sheet: str) -> list[list]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        return [list(row) for row in wb[sheet].iter_rows(values_only=True)]
    finally:
        wb.close()


def _meta(path: Path, book: CalamineWorkbook, package: _Package, sheet: str | None) -> dict[str, str]:
    if sheet is None:
        return {}
    meta = {}
    for line in _sheet_rows(path, book, package, sheet):
        if len(line) >= L.META_VALUE_COL and isinstance(line[L.META_KEY_COL - 1], str) and line[L.META_KEY_COL - 1]:
            value = line[L.META_VALUE_COL - 1]
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # a tool that turned a text cell into a number
            meta[line[L.META_KEY_COL - 1].strip()] = str(value).strip()
    return meta


def _sheet_names(book: CalamineWorkbook) -> dict[str, str]:
    """Layout sheet name -> the name in the file (tolerating stray spaces)."""
    return {re.sub(r"\s+", "", name): name for name in book.sheet_names}


def _check_receipt(path: Path, sheets: dict[str, str], meta: dict[str, str]) -> None:
    """A receipt the county sent back (any receipt: accepted, returned, the 回执 sheet alone or
    its annotated copy) is not a return; sending it in is the loop a township must not enter."""
    key, value = L.META_RECEIPT
    if L.SHEET_RECEIPT in sheets or meta.get(key) == value:
        raise ReturnReadError(
            "file.receipt",
            f"这是县里发回的回执，不是报表：文件「{path.name}」是县总工会发回的审核回执"
            "（其中的报表副本已遮盖姓名、身份证号，不能作为报表）。请不要报送回执；"
            "请在您原来的报表文件上修改后重新报送",
            sheets.get(L.SHEET_RECEIPT),
        )


def _check_identity(path: Path, sheets: dict[str, str], meta: dict[str, str]) -> None:
    present = [s for s in L.DATA_SHEETS if s in sheets]
    if not meta and not present:
        shown = "、".join(f"「{s}」" for s in sheets.values())
        raise ReturnReadError(
            "file.not_return",
            f"文件「{path.name}」不是乡镇工会年报：找不到「封面」「主要指标」等工作表（文件中的工作表：{shown}）；请使用县里下发的模板填报",
        )
    version, fingerprint = meta.get("template_version"), meta.get("schema_fingerprint")
    if version != TEMPLATE_VERSION or fingerprint != schema_fingerprint():
        found = f"版本 {version}、结构标识 {fingerprint}" if version else "没有模板版本信息（隐藏的版本工作表缺失）"
        raise ReturnReadError(
            "file.old_template",
            f"文件「{path.name}」使用的不是当前模板：文件中为{found}，当前应为版本 {TEMPLATE_VERSION}、"
            f"结构标识 {schema_fingerprint()}。请从县总工会下载新模板，把数据填入新模板后重新报送",
        )
    missing = [s for s in L.DATA_SHEETS if s not in sheets]
    if missing:
        others = [name for key, name in sheets.items() if key not in L.SHEET_ORDER]
        renamed = f"（文件中另有工作表：{'、'.join(f'「{o}」' for o in others)}，是否被改名？）" if others else "（可能被删除或改名）"
        raise ReturnReadError(
            "file.missing_sheet",
            f"找不到工作表「{missing[0]}」{renamed}。请不要修改、删除工作表或更改工作表名称，请在原模板中填写后重新报送",
            missing[0],
        )


# --------------------------------------------------------------------------------------------


def read_return(path: Path | str) -> RawReturn:
    """Read one return. Raises :class:`ReturnReadError` for a file that is not a usable return."""
    path = Path(path)
    kind = _sniff(path)
    package = _Package()
    if kind == "zip":
        kind, package = _package(path)
    elif kind == "xls":
        too_big = limits.xls_problem(path, path.name)
        if too_big:
            raise ReturnReadError("file.too_large", too_big)
    try:
        if package.stored is not None:
            book = CalamineWorkbook.from_filelike(io.BytesIO(package.stored))
        elif _CONTENT_BY_SUFFIX[path.suffix.lower()] == kind:
            book = CalamineWorkbook.from_path(path)
        else:  # a renamed file: let calamine go by the content
            book = CalamineWorkbook.from_filelike(io.BytesIO(path.read_bytes()))
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    try:
        return _read(path, book, package)
    except (python_calamine.CalamineError, ET.ParseError, zipfile.BadZipFile, KeyError) as exc:
        raise _unreadable(path, exc) from None
    finally:
        book.close()


def _values(grid: _Grid, cells: dict[str, L.Position], package: _Package) -> dict[str, object]:
    values = {key: grid.get(r, c) for key, (_, r, c) in cells.items()}
    blank = [(r, c) for key, (_, r, c) in cells.items() if values[key] is None]
    formulas = _markers_in(package, grid.name, blank)
    for key, (_, r, c) in cells.items():
        if (r, c) in formulas:
            values[key] = formulas[(r, c)]
    return values


def _read(path: Path, book: CalamineWorkbook, package: _Package) -> RawReturn:
    sheets = _sheet_names(book)
    meta = _meta(path, book, package, sheets.get(L.SHEET_META))
    _check_receipt(path, sheets, meta)
    _check_identity(path, sheets, meta)
    grids = {s: _Grid(sheets[s], _sheet_rows(path, book, package, sheets[s])) for s in L.DATA_SHEETS}
    names = package.names
    problems = _Problems()
    cover_cells = _locate_cover(grids[L.SHEET_COVER], problems)
    summary_cells = _locate_summary(grids[L.SHEET_SUMMARY], names, problems)
    tables = {t.key: _locate_table(grids[t.sheet], t, names, problems) for t in L.DETAIL_TABLES}
    problems.raise_if_any()

    cover = _values(grids[L.SHEET_COVER], cover_cells, package)
    summary = _values(grids[L.SHEET_SUMMARY], {i.code: summary_cells[i.code] for i in INDICATORS}, package)
    note_cells = _locate_notes(grids[L.SHEET_SUMMARY], names, {i.code: summary_cells[i.code] for i in INDICATORS})
    notes = _values(grids[L.SHEET_SUMMARY], note_cells, package)
    data: dict[str, list[dict]] = {}
    placements: dict[str, L.TablePlacement] = {}
    for table in L.DETAIL_TABLES:
        grid = grids[table.sheet]
        header_row, columns = tables[table.key]  # type: ignore[misc]
        rows, numbers, empty = _table_rows(grid, header_row, columns)
        fields = {c: name for name, c in columns.items()}
        markers = _markers_in(package, grid.name, empty)
        for (r, c), marker in markers.items():
            rows[numbers.index(r)][fields[c]] = marker
        data[table.key] = rows
        placements[table.key] = L.TablePlacement(grid.name, columns, numbers, header_row + 1)
    cells = L.CellMap(cover_cells, summary_cells, placements, note_cells)
    return RawReturn(path, meta, cover, summary, data["roster"], data["ledger"], cells, data["aid"], notes)
