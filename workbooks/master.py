"""The nightly publish of the county master workbook (汇总工作簿) as an .xlsx file (openpyxl).

Renders :func:`nianbao.workbooks.master_layout.master_sheets` — values, number formats, widths, style
roles, frozen panes, defined names, the 审核意见 drop-down — plus a 图表 sheet with the charts
the layout asks for. No layout is decided here.

Two guarantees:

* **Atomic.** The workbook is saved to a temporary file next to the target and moved over it
  with ``os.replace`` only once it is complete; on any failure the temporary file is removed
  and the previous master workbook is left as it was. (If the target is open in Excel on
  Windows the move fails with PermissionError and the old file stays.)
* **County staff's review entries survive.** Before writing over an existing master workbook,
  its 审核意见/审核理由 cells are read back through the defined names (``NB_STATUS``,
  ``NB_REVIEW_DECISION``, ``NB_REVIEW_REASON`` and the row's file columns), matched by
  township code — not row position — and written into the new workbook, as long as the row
  still shows the same file (see :func:`nianbao.workbooks.master_layout.with_reviews`). An existing
  file whose entries cannot be read stops the publish with a Chinese message instead of
  silently dropping what staff typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import copy
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook, load_workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from nianbao.workbooks.atomic import save_atomically
from nianbao.workbooks.printing import apply_page_setup
from nianbao.workbooks.layout import Ref, col_letter
from nianbao.workbooks.master_layout import (
    CHART_HEIGHT_CM,
    CHART_SHEET,
    CHART_WIDTH_CM,
    REVIEW_NAMES,
    STYLES,
    CellStyle,
    Review,
    SheetData,
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
    wb = build_workbook(sheets)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(wb, path)
    return path


def build_workbook(sheets: Sequence[SheetData]) -> Workbook:
    """The openpyxl workbook for ``sheets``, in memory."""
    wb = Workbook()
    wb.remove(wb.active)
    for sheet in sheets:
        _render(wb.create_sheet(sheet.title), sheet)
    _add_charts(wb, sheets)
    for name, ref in defined_names(sheets).items():
        wb.defined_names[name] = DefinedName(name, attr_text=ref)
    return wb


def read_master_reviews(path: Path | str) -> dict[str, Review]:
    """County staff's 审核意见/审核理由 in a master workbook file, by township code."""
    path = Path(path)
    try:
        wb = load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        raise MasterWorkbookError(
            f"无法打开现有汇总工作簿「{path}」以保留其中的审核意见（{exc}）；"
            "为避免覆盖县里已填写的审核意见，本次未写入。请检查该文件，或将其移走后重试"
        ) from exc
    columns = {}
    for name in REVIEW_NAMES:
        defined = wb.defined_names.get(name)
        ref = Ref.parse(defined.attr_text) if defined is not None else None
        if ref is None or ref.sheet not in wb.sheetnames:
            raise MasterWorkbookError(
                f"现有汇总工作簿「{path}」中找不到名称 {name} 指向的单元格（应指向「报送情况」表），"
                "无法读取审核意见；为避免覆盖县里已填写的审核意见，本次未写入。请检查该文件，或将其移走后重试"
            )
        ws = wb[ref.sheet]
        columns[name] = [ws.cell(row, ref.col).value for row in range(ref.row, ws.max_row + 1)]
    return reviews_from_columns(columns)


# --- rendering ------------------------------------------------------------------------------------


def _render(ws: Worksheet, sheet: SheetData) -> None:
    for r, row in enumerate(sheet.grid(), start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(r, c, value)
    for run in sheet.format_runs():
        for r in range(run.first_row, run.last_row + 1):
            ws.cell(r, run.column).number_format = run.number_format
    for run in sheet.style_runs():
        _apply_style(ws, run.first_row, run.last_row, run.first_column, run.last_column, STYLES[run.role])
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


def _apply_style(ws: Worksheet, r1: int, r2: int, c1: int, c2: int, style: CellStyle) -> None:
    """Style the first cell through openpyxl's API, then give the rest the same style ids.

    Setting five style objects per cell makes openpyxl hash each one against the workbook's
    style tables; for a city's 分乡镇 sheet that was most of the publish. Copying the first
    cell's style array (keeping each cell's own number format) gives identical output.
    """
    first = ws.cell(r1, c1)
    first.font = Font(bold=style.bold, size=style.size, color=style.color)
    first.fill = PatternFill("solid", fgColor=style.fill) if style.fill else PatternFill(fill_type=None)
    first.alignment = Alignment(horizontal=style.align, vertical="center" if style.wrap else None, wrap_text=style.wrap or None)
    first.border = _BORDER if style.border else Border()
    first.protection = Protection(locked=style.locked)
    proto = first._style
    for row in ws.iter_rows(min_row=r1, max_row=r2, min_col=c1, max_col=c2):
        for cell in row:
            if cell is not first:
                number_format = cell._style.numFmtId if cell._style is not None else 0
                cell._style = copy(proto)
                cell._style.numFmtId = number_format


def _add_choices(ws: Worksheet, header: str, choices: Sequence[str], cells: str) -> None:
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
    ws.add_data_validation(dv)


def _add_charts(wb: Workbook, sheets: Sequence[SheetData]) -> None:
    """A 图表 sheet with one column chart per ChartSpec, over the body rows of its sheet."""
    charted = [(s, spec) for s in sheets for spec in s.charts if s.body_rows]
    if not charted:
        return
    ws = wb.create_sheet(CHART_SHEET)
    first = charted[0][0]
    ws["A1"] = f"{first.heading}：图表"
    ws["A2"] = first.stamp
    _apply_style(ws, 1, 1, 1, 1, STYLES["title"])
    _apply_style(ws, 2, 2, 1, 1, STYLES["stamp"])
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
    apply_page_setup(ws, chart_page_setup(f"{first.heading}：图表", first.stamp, len(charted)))
