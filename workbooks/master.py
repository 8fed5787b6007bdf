"""The nightly publish of the county master workbook (汇总工作簿) as an .xlsx file (openpyxl).

Renders :func:`nianbao.workbooks.master_layout.master_sheets` — values, number formats, widths, style
roles, frozen panes, defined names, the 审核意见 drop-down — plus a 图表 sheet with the charts
the layout asks for. No layout is decided here.

Two guarantees:

* **Atomic.** The workbook is saved to a temporary file next to the target and moved over it
  with ``os.replace`` only once it is complete; on any failure the temporary file is removed
  and the previous master workbook is left as it was.
* **A locked target is written beside.** On Windows a workbook open in Excel or WPS cannot be
  replaced (PermissionError): the new workbook is then saved next to it under a time-stamped
  name (:func:`aside_name`) and the open one is left alone; the next run writes the usual name
  again. The 审核意见 saved in the open file are read before either write, so none is lost.
* **County staff's review entries survive.** Before writing over an existing master workbook,
  its 审核意见/审核理由 cells are read back through the defined names (``NB_STATUS``,
  ``NB_REVIEW_DECISION``, ``NB_REVIEW_REASON`` and the row's file columns), matched by
  township code — not row position — and written into the new workbook, as long as the row
  still shows the same file (see :func:`nianbao.workbooks.master_layout.with_reviews`). An existing
  file whose entries cannot be read stops the publish with a Chinese message instead of
  silently dropping what staff typed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from copy import copy
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook, load_workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.datavalidation import DataValidation

from nianbao.workbooks.atomic import save_atomically
from nianbao.workbooks.printing import apply_page_setup
from nianbao.workbooks.layout import Ref, col_letter
from nianbao.workbooks.master_layout import (
    CHART_HEIGHT_CM,
    CHART_SHEET,
    CHART_WIDTH_CM,
    REVIEW_NAMES,
    STYLES,
    FormatRun,
    Review,
    SheetData,
    StyleRun,
    chart_anchor,
    chart_page_setup,
    defined_names,
    master_sheets,
    reviews_from_columns,
    with_reviews,
)

if TYPE_CHECKING:
    from nianbao.consolidate import Consolidation

_THIN = Side(style="thin", color="BFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


class MasterWorkbookError(Exception):
    """The existing master workbook cannot be read; the message is Chinese and says where."""


def write_master(c: Consolidation, path: Path | str) -> Path:
    """Publish the master workbook for ``c`` at ``path`` (atomically); returns the path.

    Existing 审核意见/审核理由 entries at ``path`` are carried over (module docstring).
    """
    path = Path(path)
    sheets = master_sheets(c)
    if path.exists():
        sheets = with_reviews(sheets, read_master_reviews(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _save(sheets, path)
    except PermissionError:  # open in Excel or WPS on Windows
        aside = path.with_name(aside_name(path, datetime.now()))
        _save(sheets, aside)  # built again: a streamed workbook is saved once
        return aside
    return path


def _save(sheets: Sequence[SheetData], path: Path) -> None:
    wb = build_workbook(sheets)
    try:
        save_atomically(wb, path)
    finally:
        _discard(wb)


def _discard(wb: Workbook) -> None:
    """Drop what a streamed workbook not (fully) saved still holds: each unfinished sheet's
    temporary file, which would otherwise stay behind in the temp folder."""
    for ws in wb.worksheets:
        if isinstance(ws, WriteOnlyWorksheet) and not ws.closed and ws._writer is not None:
            try:
                ws.close()
            except Exception:  # the failure that brought us here may have left it unfinishable
                pass
            Path(ws._writer.out).unlink(missing_ok=True)


def aside_name(path: Path, at: datetime) -> str:
    """The name a master workbook is published under while ``path`` is locked."""
    return f"{path.stem}_{at:%Y%m%d-%H%M%S}{path.suffix}"


def is_aside(published: Path, usual: Path) -> bool:
    """True when ``published`` is a time-stamped copy written because ``usual`` was locked."""
    return Path(published).name != Path(usual).name


def saved_by(path: Path | str) -> tuple[str, datetime]:
    """Who last saved the workbook file and when (Beijing time, naive), from its document
    properties as Excel, WPS and LibreOffice write them; the file's modified time if absent."""
    from nianbao.consolidate import local_naive

    wb = load_workbook(path, read_only=True)
    props = wb.properties
    wb.close()
    by = (props.lastModifiedBy or "").strip() or "（文件未记录修改人）"
    at = props.modified
    if at is None:
        at = datetime.fromtimestamp(Path(path).stat().st_mtime, tz=timezone.utc)
    elif at.tzinfo is None:  # the OOXML core properties are in UTC
        at = at.replace(tzinfo=timezone.utc)
    return by, local_naive(at)


def build_workbook(sheets: Sequence[SheetData]) -> Workbook:
    """The openpyxl workbook for ``sheets``, streamed (write-only): each row is written out as
    it is made, so a county of 10 000 townships (数据来源 alone has 650 000 rows) never holds
    its cells in memory. Save it once; it cannot be read back before it is saved."""
    wb = Workbook(write_only=True)
    try:
        styles = _Styles()
        for sheet in sheets:
            _render(wb.create_sheet(sheet.title), sheet, styles)
        _add_charts(wb, sheets)
        for name, ref in defined_names(sheets).items():
            wb.defined_names[name] = DefinedName(name, attr_text=ref)
    except BaseException:
        _discard(wb)
        raise
    return wb


def read_master_reviews(path: Path | str) -> dict[str, Review]:
    """County staff's 审核意见/审核理由 in a master workbook file, by township code."""
    path = Path(path)
    try:  # read-only: a county's 数据来源 sheet alone holds hundreds of thousands of cells
        wb = load_workbook(path, data_only=True, read_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        raise MasterWorkbookError(
            f"无法打开现有汇总工作簿「{path}」以保留其中的审核意见（{exc}）；"
            "为避免覆盖县里已填写的审核意见，本次未写入。请检查该文件，或将其移走后重试"
        ) from exc
    try:
        refs = {}
        for name in REVIEW_NAMES:
            defined = wb.defined_names.get(name)
            ref = Ref.parse(defined.attr_text) if defined is not None else None
            if ref is None or ref.sheet not in wb.sheetnames:
                raise MasterWorkbookError(
                    f"现有汇总工作簿「{path}」中找不到名称 {name} 指向的单元格（应指向「报送情况」表），"
                    "无法读取审核意见；为避免覆盖县里已填写的审核意见，本次未写入。请检查该文件，或将其移走后重试"
                )
            refs[name] = ref
        columns: dict[str, list] = {name: [] for name in refs}
        for title in {ref.sheet for ref in refs.values()}:  # one pass over each sheet's rows
            mine = {name: ref for name, ref in refs.items() if ref.sheet == title}
            first_row, first_col = min(r.row for r in mine.values()), min(r.col for r in mine.values())
            last_col = max(r.col for r in mine.values())
            rows = wb[title].iter_rows(min_row=first_row, min_col=first_col, max_col=last_col, values_only=True)
            for r, values in enumerate(rows, start=first_row):
                for name, ref in mine.items():
                    if r >= ref.row:
                        columns[name].append(values[ref.col - first_col] if ref.col - first_col < len(values) else None)
    finally:
        wb.close()
    return reviews_from_columns(columns)


# --- rendering ------------------------------------------------------------------------------------


class _Styles:
    """One openpyxl style array per (style role, number format), built once through openpyxl's
    API and shared by every cell that looks the same: hashing five style objects per cell
    against the workbook's style tables was most of the publish for a city's 分乡镇 sheet."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str | None, str | None], StyleArray] = {(None, None): StyleArray()}

    def array(self, ws: WriteOnlyWorksheet, role: str | None, number_format: str | None) -> StyleArray:
        key = (role, number_format)
        proto = self._cache.get(key)
        if proto is None:
            proto = self._cache[key] = self._make(ws, role, number_format)
        return proto

    def cell(self, ws: WriteOnlyWorksheet, value: object, role: str | None, number_format: str | None) -> Cell:
        cell = WriteOnlyCell(ws, value)
        cell._style = copy(self.array(ws, role, number_format))
        return cell

    @staticmethod
    def _make(ws: WriteOnlyWorksheet, role: str | None, number_format: str | None) -> StyleArray:
        first = WriteOnlyCell(ws)  # its style goes into the tables of the workbook being written
        if role is not None:
            style = STYLES[role]
            first.font = Font(bold=style.bold, size=style.size, color=style.color)
            first.fill = PatternFill("solid", fgColor=style.fill) if style.fill else PatternFill(fill_type=None)
            first.alignment = Alignment(horizontal=style.align, vertical="center" if style.wrap else None, wrap_text=style.wrap or None)
            first.border = _BORDER if style.border else Border()
            first.protection = Protection(locked=style.locked)
        if number_format is not None:
            first.number_format = number_format
        return first._style


def _cell_looks(sheet: SheetData) -> Iterator[dict[int, tuple[str | None, str | None]]]:
    """Row by row from row 1: column -> (style role, number format) of every styled cell.

    A sweep over :meth:`SheetData.style_runs` (later runs win) and :meth:`SheetData.format_runs`
    (at most one per cell), so only the runs that cover the current row are looked at.
    """
    styles = sorted(enumerate(sheet.style_runs()), key=lambda ir: ir[1].first_row)
    formats = sorted(sheet.format_runs(), key=lambda run: run.first_row)
    active_styles: list[tuple[int, StyleRun]] = []
    active_formats: list[FormatRun] = []
    si = fi = 0
    for r in range(1, sheet.end_row + 1):
        while si < len(styles) and styles[si][1].first_row <= r:
            active_styles.append(styles[si])
            si += 1
        while fi < len(formats) and formats[fi].first_row <= r:
            active_formats.append(formats[fi])
            fi += 1
        active_styles = [ir for ir in active_styles if ir[1].last_row >= r]
        active_formats = [run for run in active_formats if run.last_row >= r]
        looks: dict[int, tuple[str | None, str | None]] = {}
        for _, run in sorted(active_styles, key=lambda ir: ir[0]):
            for c in range(run.first_column, run.last_column + 1):
                looks[c] = (run.role, None)
        for run in active_formats:
            role = looks.get(run.column, (None, None))[0]
            looks[run.column] = (role, run.number_format)
        yield looks


def _render(ws: WriteOnlyWorksheet, sheet: SheetData, styles: _Styles) -> None:
    """Everything about the sheet that is written before its rows, then the rows, streamed."""
    for c, col in enumerate(sheet.columns, start=1):
        ws.column_dimensions[col_letter(c)].width = col.width
        if col.choices and sheet.rows:
            _add_choices(ws, col.header, col.choices, f"{col_letter(c)}{sheet.first_row}:{col_letter(c)}{sheet.last_row}")
    if sheet.header_height:
        ws.row_dimensions[sheet.header_row].height = sheet.header_height
    for r in sheet.signature_rows:
        ws.row_dimensions[r].height = sheet.signature_height
    ws.freeze_panes = sheet.freeze_cell
    apply_page_setup(ws, sheet.page_setup)
    _declare_size(ws, sheet.end_row, sheet.width)
    # A streamed sheet writes each appended row at once, so one Cell per column serves every
    # row (making ~15 million Cell objects was a third of a city's publish), and cells that
    # look the same share one style array (the writer only reads it).
    pool: list[Cell] = []
    scratch: list[StyleArray] = []  # what binding a date gives its cell a format on, not the shared arrays
    for values, looks in zip(sheet.iter_grid(), _cell_looks(sheet)):
        last = max([c for c, v in enumerate(values, start=1) if v is not None] + list(looks), default=0)
        pool += [WriteOnlyCell(ws) for _ in range(last - len(pool))]
        scratch += [StyleArray() for _ in range(last - len(scratch))]
        row = pool[:last]
        for c, cell in enumerate(row, start=1):
            cell._style = scratch[c - 1]
            cell.value = values[c - 1] if c <= len(values) else None
            cell._style = styles.array(ws, *looks.get(c, (None, None)))
        ws.append(row)


def _declare_size(ws: WriteOnlyWorksheet, rows: int, columns: int) -> None:
    """Write the sheet's size (``<dimension>``) ahead of its rows, as a normal openpyxl or Excel
    file has it: without it a read-only reader (openpyxl, reading 审核意见 back on the next run)
    parses every sheet to the end just to learn its size, 数据来源's 650 000 rows included."""
    ws.calculate_dimension = lambda: f"A1:{col_letter(max(columns, 1))}{max(rows, 1)}"


def _add_choices(ws: WriteOnlyWorksheet, header: str, choices: Sequence[str], cells: str) -> None:
    listed = "、".join(f"“{c}”" for c in choices)
    dv = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle=f"{header}填写有误",
        error=f"「{ws.title}」{header}只能填写 {listed}，或留空",
        promptTitle=header,
        prompt=f"请选择 {listed}",
        showInputMessage=True,
    )
    dv.add(cells)
    ws.data_validations.append(dv)  # what Worksheet.add_data_validation does; write-only sheets lack it


def _add_charts(wb: Workbook, sheets: Sequence[SheetData]) -> None:
    """A 图表 sheet with one column chart per ChartSpec, over the body rows of its sheet."""
    charted = [(s, spec) for s in sheets for spec in s.charts if s.body_rows]
    if not charted:
        return
    ws, styles = wb.create_sheet(CHART_SHEET), _Styles()
    _declare_size(ws, 2, 1)
    first = charted[0][0]
    # Before the first row: a streamed sheet writes its properties (fit to page) ahead of its rows.
    apply_page_setup(ws, chart_page_setup(f"{first.heading}：图表", first.stamp, len(charted)))
    ws.append([styles.cell(ws, f"{first.heading}：图表", "title", None)])
    ws.append([styles.cell(ws, first.stamp, "stamp", None)])
    for i, (sheet, spec) in enumerate(charted):
        source = wb[sheet.title]
        top, bottom = sheet.body_rows
        chart = BarChart()
        chart.type = "col"
        chart.title = spec.title
        chart.y_axis.title = spec.y_title
        chart.y_axis.number_format = spec.y_format
        chart.legend = None
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        chart.width, chart.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
        value_col = sheet.column_index(spec.value_key)
        chart.add_data(
            Reference(source, min_col=value_col, min_row=sheet.header_row, max_row=bottom), titles_from_data=True
        )
        chart.set_categories(Reference(source, min_col=sheet.column_index(spec.category_key), min_row=top, max_row=bottom))
        ws.add_chart(chart, chart_anchor(i))
