"""The county master workbook (汇总工作簿), described once as data.

:func:`master_sheets` turns a :class:`nianbao.consolidate.Consolidation` into a list of
:class:`SheetData`: plain Python values in rows, plus the columns' headers, widths, number
formats and style roles. Two writers render exactly this and nothing else:

* ``nianbao.workbooks.master.write_master`` — the nightly publish, an .xlsx file written with openpyxl;
* ``nianbao.plugin.xlwriter.write_sheets`` — the 刷新汇总 button, writing into the book open in Excel.

So the layout of a sheet exists once. Everything a writer needs that depends on where things
are (the full value grid, the number-format and style runs, the defined names, the frozen
pane) is computed here too, so the two writers cannot drift apart.

Every sheet has the same geometry::

    row 1          title line (county, what, period)
    row 2          数据截至 YYYY-MM-DD HH:MM
    rows 3..       info lines: label in column A, value in column B (报告期, counts, rates)
    one blank row
    header row     one column per Column
    data rows      section / body / total / flag rows

Code finds cells through workbook-scoped defined names (``NB_*`` below), never through
hard-coded addresses: a data region is named at its first data cell, the 审核意见/审核理由
columns at their first data cell, single values (period, counts) at the value cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from nianbao.consolidate import local_naive
from nianbao.schemas.findings import SEVERITY_LABEL, Severity
from nianbao.schemas.levels import level_info
from nianbao.workbooks.group_layout import group_sheet
from nianbao.schemas.indicators import INDICATORS, MONEY_UNIT, RATES
from nianbao.schemas.models import Period
from nianbao.workbooks.safe_text import safe_value
from nianbao.workbooks.layout import SUMMARY_COLUMNS, Ref, col_letter, summary_rows
from nianbao.workbooks.printing import LANDSCAPE, PORTRAIT, PageSetup, pages_wide

if TYPE_CHECKING:  # the consolidation is only read through its attributes
    from nianbao.consolidate import Consolidation

# --- defined names: the one way code finds a cell -------------------------------------------------

NB_AS_OF = "NB_AS_OF"  # 汇总!A2, text "数据截至 YYYY-MM-DD HH:MM" (see parse_stamp)
NB_PERIOD = "NB_PERIOD"  # 汇总, 报告期 as text, e.g. "2025"
NB_COUNTY_CODE = "NB_COUNTY_CODE"
NB_PREVIOUS_PERIOD = "NB_PREVIOUS_PERIOD"  # 同比, 上年同期 as text
NB_SUMMARY = "NB_SUMMARY"  # first data cell of each sheet's table ...
NB_TOWNSHIPS = "NB_TOWNSHIPS"
NB_TOWNSHIPS_TOTAL = "NB_TOWNSHIPS_TOTAL"  # first cell of the 合计 row on 分乡镇
NB_STATUS = "NB_STATUS"  # 报送情况: first township code; the review columns share its rows
NB_STATUS_FILE = "NB_STATUS_FILE"  # 报送情况: first 文件名 cell
NB_STATUS_RECEIVED = "NB_STATUS_RECEIVED"  # 报送情况: first 最后报送时间 cell
NB_REVIEW_DECISION = "NB_REVIEW_DECISION"  # 报送情况: first 审核意见 cell (county staff type here)
NB_REVIEW_REASON = "NB_REVIEW_REASON"  # 报送情况: first 审核理由 cell
NB_FINDINGS = "NB_FINDINGS"
NB_YOY = "NB_YOY"
NB_EXPECTED = "NB_EXPECTED"
NB_RECEIVED = "NB_RECEIVED"
NB_VALID = "NB_VALID"
NB_LATE = "NB_LATE"
NB_RETURNED = "NB_RETURNED"

TITLE_ROW, STAMP_ROW, INFO_ROW = 1, 2, 3
STAMP_PREFIX = "数据截至 "
STAMP_FORMAT = "%Y-%m-%d %H:%M"
CHART_SHEET = "图表"
# Charts on the 图表 sheet: stacked, two to a portrait A4 page, each within the printable width.
CHART_FIRST_ROW = 4
CHART_WIDTH_CM, CHART_HEIGHT_CM = 18.0, 11.0
CHART_ROWS = 24  # rows of 0.5 cm from one chart's top to the next one's
CHART_LAST_COL = 11  # the charts' width in default columns (about 1.7 cm each)
CHARTS_PER_PAGE = 2
DECISIONS = ("通过", "退回")
YES, NO = "是", "否"

# Number formats by column role; a row may override its cells (Row.formats).
FORMATS: dict[str, str] = {
    "text": "General",
    "code": "@",  # codes and periods stay text: Excel would turn "419901100" into a number
    "count": "#,##0",
    "money": "#,##0.00",
    "rate": "0.0%",
    "number": "0",
    "datetime": "yyyy-mm-dd hh:mm",
    "date": "yyyy-mm-dd",
    "review": "@",
}


@dataclass(frozen=True)
class CellStyle:
    """How a style role looks; colours are RGB hex without '#'."""

    bold: bool = False
    size: float | None = None
    color: str | None = None  # font
    fill: str | None = None  # background; None means no fill
    wrap: bool = False
    align: str | None = None  # horizontal: left | center | right
    border: bool = False
    locked: bool = True


STYLES: dict[str, CellStyle] = {
    "title": CellStyle(bold=True, size=14),
    "stamp": CellStyle(color="595959"),
    "label": CellStyle(bold=True),
    "header": CellStyle(bold=True, fill="DDEBF7", wrap=True, align="center", border=True),
    "section": CellStyle(bold=True, fill="F2F2F2", border=True),
    "body": CellStyle(border=True),
    "total": CellStyle(bold=True, fill="FFF2CC", border=True),
    "flag": CellStyle(fill="FCE4D6", border=True),
    "review": CellStyle(fill="FFFFE0", border=True, locked=False),
    "para": CellStyle(wrap=True, align="left"),  # a paragraph of prose (统计综述)
}


@dataclass(frozen=True)
class Column:
    """One table column: Chinese header, the key its values come from, width in characters,
    style role (which also gives the number format unless ``number_format`` is set)."""

    key: str
    header: str
    width: float = 12
    role: str = "text"  # text | code | count | money | rate | number | datetime | review
    number_format: str | None = None
    name: str | None = None  # defined name of the column's first data cell
    choices: tuple[str, ...] = ()  # offered as a drop-down where the writer supports it

    @property
    def fmt(self) -> str:
        return self.number_format or FORMATS[self.role]

    @property
    def editable(self) -> bool:
        """County staff type into this column (审核意见, 审核理由); writers keep what they typed."""
        return self.role == "review"


@dataclass(frozen=True)
class Row:
    values: tuple[Any, ...]
    role: str = "body"  # body | section | total | flag | para
    formats: tuple[str | None, ...] | None = None  # per cell; None = the column's format


class LazyRows(Sequence[Row]):
    """Rows made when asked for, by ``make(i)``: a table as big as 数据来源 (a row per township
    and indicator, 650 000 for 10 000 townships) is never held as Row objects; the streamed
    writer makes each row as it writes it."""

    __slots__ = ("_count", "_make")

    def __init__(self, count: int, make: Callable[[int], Row]) -> None:
        self._count, self._make = count, make

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return tuple(self._make(i) for i in range(*index.indices(self._count)))
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self._make(index)

    def __iter__(self) -> Iterator[Row]:
        return map(self._make, range(self._count))


@dataclass(frozen=True)
class Info:
    """A label/value line under the stamp (columns A and B)."""

    label: str
    value: Any
    number_format: str = "General"
    name: str | None = None


@dataclass(frozen=True)
class ChartSpec:
    """A column chart of one table column by another over the body rows (not the 合计 row)."""

    title: str
    category_key: str
    value_key: str
    y_title: str
    y_format: str = "General"


def chart_anchor(i: int) -> str:
    """The cell the i-th chart of the 图表 sheet is anchored at."""
    return f"A{CHART_FIRST_ROW + i * CHART_ROWS}"


def chart_page_setup(title: str, stamp_text: str, count: int) -> PageSetup:
    """The 图表 sheet prints its charts whole: two to a page, none cut at a page edge."""
    pages = -(-count // CHARTS_PER_PAGE)
    return PageSetup(
        title=title, orientation=PORTRAIT, fit_wide=1, fit_tall=pages,
        last_row=CHART_FIRST_ROW + count * CHART_ROWS - 1, last_col=CHART_LAST_COL, footer_left=stamp_text,
    )


@dataclass(frozen=True)
class FormatRun:
    first_row: int
    last_row: int
    column: int
    number_format: str


@dataclass(frozen=True)
class StyleRun:
    first_row: int
    last_row: int
    first_column: int
    last_column: int
    role: str


@dataclass(frozen=True)
class SheetData:
    """One sheet of the master workbook: what to write and how it looks, no writer objects."""

    title: str  # sheet name
    heading: str  # title line, with the period
    stamp: str  # 数据截至 ...
    columns: tuple[Column, ...]
    rows: Sequence[Row]  # a tuple, or LazyRows for a table too big to hold as Row objects
    data_name: str  # defined name of the first data cell
    info: tuple[Info, ...] = ()
    key: str | None = None  # the column that identifies a row (township code), if any
    total_name: str | None = None  # defined name of the 合计 row, if the table has one
    stamp_name: str | None = None  # defined name of the stamp cell
    freeze_columns: int = 0  # columns kept in view left of the frozen pane
    header_height: float | None = None  # points
    charts: tuple[ChartSpec, ...] = ()
    # Printing (see page_setup): lines under the table after one blank row (a signature block),
    # each a tuple of cell values from column A; fit the sheet on one page tall; force landscape.
    signature: tuple[tuple[Any, ...], ...] = ()
    signature_height: float = 28  # points per signature line: room to sign by hand
    one_page: bool = False
    landscape: bool = False

    # --- geometry (1-based rows and columns) ---

    @property
    def header_row(self) -> int:
        return INFO_ROW + len(self.info) + 1

    @property
    def first_row(self) -> int:
        return self.header_row + 1

    @property
    def last_row(self) -> int:
        """Last row with content (the header row when the table is empty)."""
        return self.header_row + len(self.rows)

    @property
    def end_row(self) -> int:
        """Last row of the sheet: the signature block's, else the table's."""
        return self.last_row + 1 + len(self.signature) if self.signature else self.last_row

    @property
    def signature_rows(self) -> range:
        return range(self.last_row + 2, self.end_row + 1) if self.signature else range(0)

    @property
    def width(self) -> int:
        return max(len(self.columns), 2)

    @property
    def page_setup(self) -> PageSetup:
        """How the sheet prints, from its geometry: A4, one page wide unless the table is too
        wide to stay readable (then landscape pages with the frozen columns — township code and
        name — repeated on each), the header row repeated on every page, the heading in the page
        header, the stamp and 第 &P 页 共 &N 页 in the footer."""
        widths = [c.width for c in self.columns]
        orientation, wide = pages_wide(widths, sum(widths[: self.freeze_columns]))
        return PageSetup(
            title=self.heading,
            orientation=LANDSCAPE if self.landscape else orientation,
            fit_wide=wide,
            fit_tall=1 if self.one_page else 0,
            last_row=self.end_row,
            last_col=self.width,
            title_rows=(self.header_row, self.header_row),
            title_cols=(1, self.freeze_columns) if self.freeze_columns and wide > 1 else None,
            footer_left=self.stamp,
        )

    @property
    def freeze_cell(self) -> str:
        return f"{col_letter(self.freeze_columns + 1)}{self.first_row}"

    def column_index(self, key: str) -> int:
        return next(i for i, col in enumerate(self.columns, start=1) if col.key == key)

    @property
    def body_rows(self) -> tuple[int, int] | None:
        """First and last sheet row of the rows that are not section or total rows."""
        rows = [r for r, row in enumerate(self.rows, start=self.first_row) if row.role in ("body", "flag")]
        return (rows[0], rows[-1]) if rows else None

    def grid(self) -> list[list[Any]]:
        """Every value from A1 to (last_row, width), blanks as None: the whole sheet in one block."""
        return list(self.iter_grid())

    def iter_grid(self) -> Iterator[list[Any]]:
        """:meth:`grid` row by row, for a writer that streams (a big sheet is never held whole).

        Text passes through :func:`nianbao.workbooks.safe_text.safe_value` here, the one place
        both renderers (openpyxl and xlwings) take values from: file names, unit names and
        findings carry text from townships' files, which must never become a formula.
        """
        blank = [None] * self.width
        head: dict[int, list[Any]] = {TITLE_ROW: [safe_value(self.heading)], STAMP_ROW: [safe_value(self.stamp)]}
        for i, item in enumerate(self.info):
            head[INFO_ROW + i] = [safe_value(item.label), safe_value(item.value)]
        head[self.header_row] = [c.header for c in self.columns]
        for r in range(1, self.header_row + 1):
            yield _padded(head.get(r, ()), blank)
        for row in self.rows:
            yield _padded([safe_value(v) for v in row.values], blank)
        if self.signature:
            yield list(blank)
            for line in self.signature:
                yield _padded([safe_value(v) for v in line], blank)

    def anchors(self) -> dict[str, tuple[int, int]]:
        """Defined names on this sheet -> (row, column)."""
        names: dict[str, tuple[int, int]] = {self.data_name: (self.first_row, 1)}
        if self.stamp_name:
            names[self.stamp_name] = (STAMP_ROW, 1)
        for i, item in enumerate(self.info):
            if item.name:
                names[item.name] = (INFO_ROW + i, 2)
        for c, col in enumerate(self.columns, start=1):
            if col.name:
                names[col.name] = (self.first_row, c)
        if self.total_name and self.rows and self.rows[-1].role == "total":
            names[self.total_name] = (self.last_row, 1)
        return names

    def format_runs(self) -> list[FormatRun]:
        """Number formats as runs of consecutive cells in one column with the same format."""
        runs = [FormatRun(INFO_ROW + i, INFO_ROW + i, 2, item.number_format) for i, item in enumerate(self.info)]
        by_column: list[list[str]] = [[] for _ in self.columns]
        for row in self.rows:  # one pass: LazyRows makes each row again on every pass
            for c, col in enumerate(self.columns):
                by_column[c].append((row.formats[c] if row.formats else None) or col.fmt)
        for c, formats in enumerate(by_column, start=1):
            runs += [FormatRun(self.first_row + a, self.first_row + b, c, f) for a, b, f in _runs(formats)]
        return runs

    def style_runs(self) -> list[StyleRun]:
        """Style roles as rectangles, in the order to apply them (later ones win)."""
        last_col = len(self.columns)
        runs = [StyleRun(TITLE_ROW, TITLE_ROW, 1, 1, "title"), StyleRun(STAMP_ROW, STAMP_ROW, 1, 1, "stamp")]
        runs += [StyleRun(INFO_ROW + i, INFO_ROW + i, 1, 1, "label") for i in range(len(self.info))]
        runs.append(StyleRun(self.header_row, self.header_row, 1, last_col, "header"))
        roles = [row.role for row in self.rows]
        runs += [StyleRun(self.first_row + a, self.first_row + b, 1, last_col, r) for a, b, r in _runs(roles)]
        if self.signature:
            runs.append(StyleRun(self.last_row + 2, self.end_row, 1, self.width, "label"))
        if self.rows:
            runs += [
                StyleRun(self.first_row, self.last_row, c, c, "review")
                for c, col in enumerate(self.columns, start=1)
                if col.editable
            ]
        return runs


def _padded(values: Sequence[Any], blank: list[Any]) -> list[Any]:
    """``values`` at the start of a row of the sheet's width."""
    row = list(blank)
    row[: len(values)] = values
    return row


def _runs(items: Sequence[Any]) -> list[tuple[int, int, Any]]:
    """(first index, last index, item) for each run of equal consecutive items."""
    runs: list[tuple[int, int, Any]] = []
    for i, item in enumerate(items):
        if runs and runs[-1][2] == item:
            runs[-1] = (runs[-1][0], i, item)
        else:
            runs.append((i, i, item))
    return runs


# --- references and names -----------------------------------------------------------------------


def defined_names(sheets: Iterable[SheetData]) -> dict[str, str]:
    """Every workbook-scoped defined name -> its absolute reference."""
    return {
        name: Ref.cell(sheet.title, row, col).text
        for sheet in sheets
        for name, (row, col) in sheet.anchors().items()
    }


def stamp(as_of: datetime) -> str:
    """``数据截至 2026-01-15 21:30`` (Beijing time)."""
    return STAMP_PREFIX + local_naive(as_of).strftime(STAMP_FORMAT)


def parse_stamp(text: str) -> datetime:
    """The run time back from a stamp cell (e.g. the one named NB_AS_OF)."""
    body = str(text).strip().removeprefix(STAMP_PREFIX.strip()).strip()
    try:
        return datetime.strptime(body, STAMP_FORMAT)
    except ValueError:
        raise ValueError(f"「{text}」不是数据截至时间（应为“{STAMP_PREFIX}YYYY-MM-DD HH:MM”）") from None


# --- county staff's review entries ------------------------------------------------------------------


def normalize_code(value: Any) -> str:
    """A township code as read back from a cell: Excel may have made 419901100 a number."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _minute(value: Any) -> datetime | None:
    """A received time as read back from a cell, to the minute (what the sheet shows)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().removesuffix("Z"))
        except ValueError:
            return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.replace(second=0, microsecond=0, tzinfo=None) if isinstance(value, datetime) else None


@dataclass(frozen=True)
class Review:
    """What county staff typed on one 报送情况 row, and which file that row showed."""

    decision: str
    reason: str
    file_name: str = ""
    received: datetime | None = None  # 最后报送时间 of the row, to the minute

    def is_about(self, file_name: Any, received: Any) -> bool:
        return self.file_name == _text(file_name) and self.received == _minute(received)


# The defined names a review reader reads below, one column each, down to the last used row.
REVIEW_NAMES = (NB_STATUS, NB_STATUS_FILE, NB_STATUS_RECEIVED, NB_REVIEW_DECISION, NB_REVIEW_REASON)


def reviews_from_columns(columns: Mapping[str, Sequence[Any]]) -> dict[str, Review]:
    """Township code -> Review for every row where staff typed a 审核意见 or 审核理由.

    ``columns`` maps each of REVIEW_NAMES to the cells below it; reading stops at the first
    row without a township code.
    """
    def cell(name: str, i: int) -> Any:
        values = columns.get(name) or ()
        return values[i] if i < len(values) else None

    reviews: dict[str, Review] = {}
    for i, raw in enumerate(columns.get(NB_STATUS) or ()):
        code = normalize_code(raw)
        if not code:
            break
        decision, reason = _text(cell(NB_REVIEW_DECISION, i)), _text(cell(NB_REVIEW_REASON, i))
        if decision or reason:
            file_name, received = _text(cell(NB_STATUS_FILE, i)), _minute(cell(NB_STATUS_RECEIVED, i))
            reviews[code] = Review(decision, reason, file_name, received)
    return reviews


def _review_matches(sheet: SheetData, reviews: Mapping[str, Review]) -> dict[int, tuple[str, Review]]:
    """Row index -> (township code, review) for the rows whose entry is put back."""
    if sheet.key is None or not any(col.editable for col in sheet.columns):
        return {}
    key = sheet.column_index(sheet.key) - 1
    file_col = sheet.column_index("file_name") - 1
    received_col = sheet.column_index("last_received") - 1
    matches = {}
    for i, row in enumerate(sheet.rows):
        code = normalize_code(row.values[key])
        kept = reviews.get(code)
        if kept is not None and kept.is_about(row.values[file_col], row.values[received_col]):
            matches[i] = (code, kept)
    return matches


def kept_reviews(sheets: Sequence[SheetData], reviews: Mapping[str, Review]) -> dict[str, Review]:
    """The entries :func:`with_reviews` puts back, by township code."""
    return {code: kept for sheet in sheets for code, kept in _review_matches(sheet, reviews).values()}


def with_reviews(sheets: Sequence[SheetData], reviews: Mapping[str, Review]) -> list[SheetData]:
    """The sheets with county staff's 审核意见/审核理由 put back, matched by township code.

    An entry is put back only while the township's row still shows the same file (文件名 and
    最后报送时间): a decision is about the file it was taken on, so after a resubmission the
    row is open for review again (the consolidation voids stored decisions the same way).
    A kept entry wins over the consolidation's stored decision, so a rewrite never loses what
    staff typed before the approval flow picked it up. A blank cell does not clear a stored
    decision. Rows of townships no longer listed are dropped with their entries.
    """
    out = []
    for sheet in sheets:
        matches = _review_matches(sheet, reviews)
        if not matches:
            out.append(sheet)
            continue
        editable = [i for i, col in enumerate(sheet.columns) if col.editable]
        rows = list(sheet.rows)
        for i, (_, kept) in matches.items():
            values = list(rows[i].values)
            for col, value in zip(editable, (kept.decision, kept.reason)):
                values[col] = value or None
            rows[i] = dataclasses.replace(rows[i], values=tuple(values))
        out.append(dataclasses.replace(sheet, rows=tuple(rows)))
    return out


# --- plain values from pandas -----------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A cell value as plain Python: NaN/NaT/None -> None, numpy scalars -> int/float/bool,
    Timestamp -> naive datetime (aware times as Beijing wall-clock time: Excel has no zones)."""
    if value is None or isinstance(value, str):
        return value
    if value is pd.NaT:  # NaT is also a datetime instance
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return local_naive(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    return value.item() if hasattr(value, "item") else value


def _number(value: Any, kind: str) -> Any:
    value = plain(value)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    if kind == "rate":
        return float(value)
    if kind == "count" and float(value).is_integer():
        return int(value)
    return round(float(value), 2)  # 万元, or a difference of counts computed in floats


def _yes_no(value: Any) -> str | None:
    value = plain(value)
    return None if value is None else (YES if value else NO)


def _get(series: pd.Series, code: str) -> Any:
    return series.get(code) if series is not None else None


# --- the sheets ----------------------------------------------------------------------------------

RATE_CODES = frozenset(r.code for r in RATES)
RATES_HEADING = "主要比率（由{whole}合计数计算）"
# Fields the consolidation may carry beyond the agreed ones, shown on 报送情况 when present:
# field -> (label, defined name, kind).
_EXTRA_INFO = {
    "due": ("报送截止日期", "NB_DUE", "date"),
    "completeness": ("报送率", "NB_COMPLETENESS", "rate"),
    "timeliness": ("及时率", "NB_TIMELINESS", "rate"),
}


def _code(key: str, header: str, width: float = 12, **kw) -> Column:
    return Column(key, header, width, "code", **kw)


_TEMPLATE_COLUMNS = {c.key: c for c in SUMMARY_COLUMNS}


def _template_column(key: str, role: str = "text") -> Column:
    """A column of the township template's 主要指标 sheet (代码, 指标名称, 计量单位, 本期数值)."""
    col = _TEMPLATE_COLUMNS[key]
    return Column(col.key, col.header, col.width, role)


def _summary_rows(c: Consolidation) -> list[Row]:
    """Section header rows, then per indicator 代码/指标名称/计量单位/本期数值, then the rates.

    Rows come in the order of the township template's 主要指标 sheet
    (``nianbao.workbooks.layout.summary_rows``); only the values are the county's.
    """
    rows: list[Row] = []
    for item in summary_rows():
        if item.kind == "section":
            rows.append(Row((None, item.label, None, None), "section"))
        elif item.kind == "rates":
            whole = level_info(getattr(c, "level", "县")).whole
            rows.append(Row((None, RATES_HEADING.format(whole=whole), None, None), "section"))
        else:
            kind = item.indicator.kind if item.indicator else "rate"
            source = c.totals if item.indicator else c.rates
            value = _number(_get(source, item.code), kind)
            rows.append(Row((item.code, item.label, item.unit or None, value), formats=(None, None, None, FORMATS[kind])))
    return rows


# Under 汇总: the county's signature block, so the sheet is printed, signed, stamped and sent up.
COUNTY_SIGNATURE: tuple[tuple[Any, ...], ...] = (
    (None, "单位负责人（签字）：", None, "单位（盖章）"),
    (None, "填表人："),
    (None, "联系电话："),
    (None, "填报日期：        年    月    日"),
)


def _summary_sheet(c: Consolidation, heading: str) -> SheetData:
    return SheetData(
        title="汇总",
        heading=f"{c.county_name}工会年报汇总表（{heading}）",
        stamp=stamp(c.as_of),
        info=(
            Info("填报单位", c.county_name),
            Info("单位代码", str(c.county_code), FORMATS["code"], NB_COUNTY_CODE),
            Info("报告期", str(c.period), FORMATS["code"], NB_PERIOD),
        ),
        columns=(
            _template_column("code", "code"),
            _template_column("label"),
            _template_column("unit"),
            _template_column("value", "count"),
        ),
        rows=tuple(_summary_rows(c)),
        data_name=NB_SUMMARY,
        stamp_name=NB_AS_OF,
        freeze_columns=0,
        signature=COUNTY_SIGNATURE,
    )


def _child(c: Consolidation) -> str:
    """What the reporting units are called at the consolidation's level: 乡镇, 县 or 市."""
    return level_info(getattr(c, "level", "县")).child


def _township_sheet(c: Consolidation, heading: str) -> SheetData:
    child = _child(c)
    columns = (
        _code("township_code", f"{child}代码"),
        Column("township_name", f"{child}名称", 12),
        *(Column(i.code, f"{i.code} {i.label}（{i.unit}）", 12, i.kind) for i in INDICATORS),
        *(Column(r.code, f"{r.code} {r.label}", 10, "rate") for r in RATES),
    )
    kinds = {i.code: i.kind for i in INDICATORS} | {r.code: "rate" for r in RATES}
    table = c.by_township  # in the county config's order, as consolidated
    rows = [
        Row(tuple([normalize_code(rec["township_code"]), plain(rec["township_name"])]
                  + [_number(rec.get(col.key), kinds[col.key]) for col in columns[2:]]))
        for rec in table.to_dict("records")
    ]
    # The county line: indicator totals as consolidated, rates recomputed from them (never summed).
    rows.append(
        Row(
            (None, "合计",
             *(_number(_get(c.totals, i.code), i.kind) for i in INDICATORS),
             *(_number(_get(c.rates, r.code), "rate") for r in RATES)),
            "total",
        )
    )
    return SheetData(
        title=f"分{child}",
        heading=f"{c.county_name}工会年报分{child}汇总（{heading}）",
        stamp=stamp(c.as_of),
        info=(Info(f"已汇总{child}数", len(table), FORMATS["number"]),),
        columns=columns,
        rows=tuple(rows),
        data_name=NB_TOWNSHIPS,
        key="township_code",
        total_name=NB_TOWNSHIPS_TOTAL,
        freeze_columns=2,
        header_height=60,
        charts=(
            ChartSpec(f"各{child}会员人数", "township_name", "A10", "人"),
            ChartSpec(f"各{child}建会率", "township_name", "R01", "建会率", "0%"),
        ),
    )


def _status_info(c: Consolidation) -> list[Info]:
    status = c.status
    count = lambda col: int(status[col].fillna(False).astype(bool).sum()) if len(status) else 0  # noqa: E731
    info = [
        Info(f"应报{_child(c)}数", len(status), FORMATS["number"], NB_EXPECTED),
        Info("已报送", count("received"), FORMATS["number"], NB_RECEIVED),
        Info("有效", count("valid"), FORMATS["number"], NB_VALID),
        Info("逾期", count("late"), FORMATS["number"], NB_LATE),
        Info("退回", int((status["status"] == "退回").sum()) if len(status) else 0, FORMATS["number"], NB_RETURNED),
    ]
    present = {f.name for f in dataclasses.fields(c)} if dataclasses.is_dataclass(c) else set()
    for attr, (label, name, kind) in _EXTRA_INFO.items():
        if attr in present:
            info.append(Info(label, _number(getattr(c, attr), kind), FORMATS[kind], name))
    return info


def _status_sheet(c: Consolidation, heading: str) -> SheetData:
    child = _child(c)
    columns = (
        _code("township_code", f"{child}代码", name=NB_STATUS),
        Column("township_name", f"{child}名称", 12),
        Column("received", "是否报送", 9),
        Column("valid", "是否有效", 9),
        Column("late", "是否逾期", 9),
        Column("last_received", "最后报送时间", 17, "datetime", name=NB_STATUS_RECEIVED),
        Column("file_name", "文件名", 30, name=NB_STATUS_FILE),
        Column("status", "状态", 8),
        Column("findings_count", "问题数", 8, "number"),
        Column("decision", "审核意见", 10, "review", name=NB_REVIEW_DECISION, choices=DECISIONS),
        Column("reason", "审核理由", 30, "review", name=NB_REVIEW_REASON),
    )
    rows = []
    for rec in c.status.to_dict("records"):
        rows.append(
            Row((
                normalize_code(rec["township_code"]),
                plain(rec["township_name"]),
                _yes_no(rec["received"]),
                _yes_no(rec["valid"]) if plain(rec["received"]) else None,
                _yes_no(rec["late"]) if plain(rec["received"]) else None,
                plain(rec["last_received"]),
                plain(rec["file_name"]) or None,
                plain(rec["status"]),
                _number(rec["findings_count"], "count"),
                plain(rec["decision"]) or None,
                plain(rec["reason"]) or None,
            ), "flag" if rec["status"] in ("未报", "逾期", "退回") else "body")
        )
    return SheetData(
        title="报送情况",
        heading=f"{c.county_name}{child}工会年报报送情况（{heading}）",
        stamp=stamp(c.as_of),
        info=tuple(_status_info(c)),
        columns=columns,
        rows=tuple(rows),
        data_name=NB_STATUS,
        key="township_code",
        freeze_columns=2,
    )


def _severity(value: Any) -> str:
    try:
        return SEVERITY_LABEL[Severity(str(plain(value)))]
    except ValueError:
        return str(plain(value))


def _findings_sheet(c: Consolidation, heading: str) -> SheetData:
    from nianbao.lineage import neutral
    from nianbao.outliers import EXPLAINABLE, EXPLAINED, OPEN

    child = _child(c)
    columns = (
        _code("township_code", f"{child}代码"),
        Column("township_name", f"{child}名称", 12),
        Column("file_name", "文件名", 30),
        Column("severity", "类别", 6),
        Column("code", "问题代码", 16),
        Column("sheet", "工作表", 14),
        Column("cell", "单元格", 8),
        Column("field", "字段", 16),
        Column("message", "问题说明", 70),
        Column("state", "处理情况", 8),
        Column("note", f"情况说明（{child}填写）", 40),
    )
    rows = []
    explained = 0
    for rec in c.findings.to_dict("records"):
        note = plain(rec.get("note")) or ""
        explainable = str(plain(rec.get("code"))) in EXPLAINABLE
        explained += bool(explainable and note)
        values = [plain(rec.get(col.key)) for col in columns[:-2]]
        values[0] = normalize_code(values[0]) or None
        values[2] = neutral(values[2])
        values[3] = _severity(rec.get("severity"))
        values += [(EXPLAINED if note else OPEN) if explainable else None, neutral(note) or None]
        error = str(plain(rec.get("severity"))) == Severity.ERROR.value
        rows.append(Row(tuple(v if v != "" else None for v in values), "flag" if error else "body"))
    errors = sum(1 for r in rows if r.role == "flag")
    return SheetData(
        title="审核问题",
        heading=f"{c.county_name}{child}工会年报审核问题清单（{heading}）",
        stamp=stamp(c.as_of),
        info=(
            Info("问题总数", len(rows), FORMATS["number"]),
            Info(f"其中{SEVERITY_LABEL[Severity.ERROR]}", errors, FORMATS["number"]),
            Info(f"其中{SEVERITY_LABEL[Severity.WARNING]}", len(rows) - errors, FORMATS["number"]),
            Info("其中已说明（不再需要核实）", explained, FORMATS["number"]),
        ),
        columns=columns,
        rows=tuple(rows),
        data_name=NB_FINDINGS,
        key="township_code",
        freeze_columns=0,
    )


def _yoy_kind(code: str, unit: Any) -> str:
    if code in RATE_CODES:
        return "rate"
    return "money" if unit == MONEY_UNIT else "count"


def _yoy_sheet(c: Consolidation, heading: str) -> SheetData:
    columns = (
        _template_column("code", "code"),
        _template_column("label"),
        _template_column("unit"),
        Column("current", f"本期（{c.period}）", 14, "count"),
        Column("previous", f"上年同期（{c.previous_period}）", 14, "count"),
        Column("change", "增减", 12, "count"),
        Column("share", "增减幅度", 10, "rate"),
        Column("flagged", "需核实", 8),
    )
    rows = []
    for rec in c.yoy.to_dict("records"):
        code = str(plain(rec["code"]))
        kind = _yoy_kind(code, plain(rec.get("unit")))
        flagged = bool(plain(rec.get("flagged")))
        fmt = FORMATS[kind]
        rows.append(
            Row(
                (code, plain(rec.get("label")), plain(rec.get("unit")) or None,
                 _number(rec.get("current"), kind), _number(rec.get("previous"), kind),
                 _number(rec.get("change"), kind), _number(rec.get("share"), "rate"),
                 YES if flagged else None),
                "flag" if flagged else "body",
                (None, None, None, fmt, fmt, fmt, None, None),
            )
        )
    return SheetData(
        title="同比",
        heading=f"{c.county_name}工会年报同比分析（{heading}，与上年同期比）",
        stamp=stamp(c.as_of),
        info=(
            Info("报告期", str(c.period), FORMATS["code"]),
            Info("上年同期", str(c.previous_period), FORMATS["code"], NB_PREVIOUS_PERIOD),
            Info("需核实指标数", sum(1 for r in rows if r.role == "flag"), FORMATS["number"]),
        ),
        columns=columns,
        rows=tuple(rows),
        data_name=NB_YOY,
        key="code",
        freeze_columns=2,
    )


def master_sheets(c: Consolidation) -> list[SheetData]:
    """The master workbook for one consolidation: 汇总 (叠加汇总), 分乡镇 (分县 at a city),
    分组汇总, 报送情况, 审核问题, 同比, then 统计综述, 变动情况 and 数据来源 (built in their own modules)."""
    from nianbao.changes import changes_sheet
    from nianbao.lineage import sources_sheet
    from nianbao.narrative import narrative_sheet

    heading = Period(str(c.period)).label
    groups = group_sheet(c)
    return [
        _summary_sheet(c, heading),
        _township_sheet(c, heading),
        *([groups] if groups is not None else []),
        _status_sheet(c, heading),
        _findings_sheet(c, heading),
        _yoy_sheet(c, heading),
        narrative_sheet(c, heading),
        changes_sheet(c, heading),
        sources_sheet(c, heading),
    ]


__all__ = [
    "CHART_SHEET",
    "FORMATS",
    "STYLES",
    "CellStyle",
    "ChartSpec",
    "Column",
    "FormatRun",
    "Info",
    "Row",
    "SheetData",
    "StyleRun",
    "defined_names",
    "master_sheets",
    "normalize_code",
    "parse_stamp",
    "plain",
    "REVIEW_NAMES",
    "Review",
    "kept_reviews",
    "reviews_from_columns",
    "stamp",
    "with_reviews",
]
