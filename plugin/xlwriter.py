"""Write the master workbook layout into a book open in Excel (xlwings): the 刷新汇总 refresh.

Consumes the same :class:`nianbao.workbooks.master_layout.SheetData` the nightly openpyxl publish
renders, so a refresh of an empty book writes the values the nightly file holds. Per sheet:

1. create the sheet if it is missing (after the previous master sheet), with column widths,
   frozen pane and title style — widths and panes of existing sheets are left as staff set them;
2. number formats, *before* the values: Excel would turn a township code "419901100" or the
   period "2025" typed into a General cell into a number;
3. all values in one bulk write, ``range.value = grid`` from A1 (title, stamp, info, header,
   rows; blanks included so stale cells inside the block are overwritten);
4. rows left over from a longer previous result are cleared (contents and formats);
5. fill and bold by style role (header, section, 合计, flagged and review cells), so the
   合计 highlight moves with the 合计 row.

Finally the workbook-scoped defined names are added or re-pointed.

What county staff typed in 审核意见/审核理由 is read back first (through the defined names)
and written again on the row of the same township code — not the same row position — as long
as the row still shows the same file; see :func:`nianbao.workbooks.master_layout.with_reviews`.

Only the public xlwings API is used, so this runs against desktop Excel (Windows/macOS) and
against xlwings' JSON book engine (``xw.Book(json=...)``, xlwings Server/Lite) alike.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any

from nianbao.workbooks.layout import Ref
from nianbao.workbooks.printing import LANDSCAPE, PAGE_FOOTER, PAPER_A4, PageSetup, header_escape
from nianbao.workbooks.master_layout import (
    NB_STATUS,
    REVIEW_NAMES,
    STYLES,
    Review,
    SheetData,
    defined_names,
    kept_reviews,
    reviews_from_columns,
    with_reviews,
)

if TYPE_CHECKING:
    import xlwings

# Engines whose column widths are in points (Office.js / Office Scripts); desktop Excel uses
# characters of the default font, which is what the layout's widths are.
_POINT_ENGINES = frozenset({"remote", "officejs"})


class ReviewReadError(Exception):
    """The book has a 报送情况 sheet whose review columns cannot be found; Chinese message."""


@dataclass(frozen=True)
class WriteSummary:
    written: tuple[str, ...]  # sheet titles, in order
    created: tuple[str, ...]  # sheets that were missing and have been added
    rows: Mapping[str, int]  # data rows written per sheet
    cleared: Mapping[str, int]  # rows left over from a longer previous result, cleared per sheet
    reviews_kept: tuple[str, ...]  # township codes whose typed 审核意见/审核理由 were written back


def write_sheets(book: xlwings.Book, sheets: Sequence[SheetData]) -> WriteSummary:
    """Write ``sheets`` into the open ``book`` (see the module docstring for what is kept)."""
    reviews = read_reviews(book)
    kept = tuple(kept_reviews(sheets, reviews))
    sheets = with_reviews(sheets, reviews)
    created, rows, cleared = [], {}, {}
    previous = None
    for sheet in sheets:
        ws, is_new = _sheet(book, sheet.title, previous)
        previous = ws
        if is_new:
            created.append(sheet.title)
        cleared[sheet.title] = _write(ws, sheet, is_new)
        rows[sheet.title] = len(sheet.rows)
        if is_new:
            _dress_new_sheet(book, ws, sheet)
        _page_setup(ws, sheet.page_setup, is_new)
    _set_names(book, sheets)
    return WriteSummary(tuple(s.title for s in sheets), tuple(created), rows, cleared, kept)


def read_review_column(book: xlwings.Book) -> dict[str, tuple[str, str]]:
    """Township code -> (审核意见, 审核理由) for every row of 报送情况 where staff typed something.

    Cells are found through the defined names, rows matched by the township code on them.
    An empty dict for a book that is not (yet) a master workbook.
    """
    return {code: (r.decision, r.reason) for code, r in read_reviews(book).items()}


# --- reading --------------------------------------------------------------------------------------


def _sheet_names(book: xlwings.Book) -> list[str]:
    return [s.name for s in book.sheets]


def read_reviews(book: xlwings.Book) -> dict[str, Review]:
    """County staff's 审核意见 entries by township code, each with the file its row showed."""
    names = {name: Ref.parse(book.names[name].refers_to or "") if name in book.names else None for name in REVIEW_NAMES}
    present = _sheet_names(book)
    if all(ref is None for ref in names.values()):
        return {}
    columns: dict[str, list[Any]] = {}
    for name, ref in names.items():
        if ref is None or ref.sheet not in present:
            status_sheet = Ref.parse(book.names[NB_STATUS].refers_to or "") if NB_STATUS in book.names else None
            where = f"「{status_sheet.sheet}」" if status_sheet else ""
            raise ReviewReadError(
                f"工作簿{where}中的名称 {name} 缺失或不指向单元格，无法读取县里填写的审核意见；"
                "为避免覆盖已填写的审核意见，本次未刷新。请检查名称管理器，或在新的空白工作簿中刷新"
            )
        ws = book.sheets[ref.sheet]
        last = ws.used_range.last_cell.row
        columns[name] = ws.range((ref.row, ref.col), (last, ref.col)).options(ndim=1).value if last >= ref.row else []
    return reviews_from_columns(columns)


# --- writing --------------------------------------------------------------------------------------


def _sheet(book: xlwings.Book, title: str, after: Any) -> tuple[Any, bool]:
    if title in _sheet_names(book):
        return book.sheets[title], False
    after = after if after is not None else book.sheets[len(book.sheets) - 1]
    return book.sheets.add(title, after=after), True


def _write(ws: Any, sheet: SheetData, is_new: bool) -> int:
    """Formats, values, leftovers, styles; returns how many leftover rows were cleared."""
    old_rows, old_cols = (0, 0) if is_new else _extent(ws)
    for run in sheet.format_runs():
        ws.range((run.first_row, run.column), (run.last_row, run.column)).number_format = run.number_format
    grid = sheet.grid()
    ws.range((1, 1), (len(grid), sheet.width)).value = grid
    leftover = max(0, old_rows - len(grid))
    if leftover:
        ws.range((len(grid) + 1, 1), (old_rows, max(old_cols, sheet.width))).clear()
    for run in sheet.style_runs():
        style = STYLES[run.role]
        rng = ws.range((run.first_row, run.first_column), (run.last_row, run.last_column))
        rng.color = _rgb(style.fill)
        rng.font.bold = style.bold
    return leftover


def _extent(ws: Any) -> tuple[int, int]:
    last = ws.used_range.last_cell
    return last.row, last.column


def _rgb(hex_color: str | None) -> tuple[int, int, int] | None:
    return None if hex_color is None else tuple(int(hex_color[i : i + 2], 16) for i in (0, 2, 4))


def _width(book: xlwings.Book, characters: float) -> float:
    if book.app.engine.name in _POINT_ENGINES:
        return round((7 * characters + 5) * 0.75, 2)  # Excel's pixel rule for the default font
    return characters


def _dress_new_sheet(book: xlwings.Book, ws: Any, sheet: SheetData) -> None:
    """Widths, header wrap/height, title size and the frozen pane, only on a sheet we added."""
    for width, group in groupby(enumerate(sheet.columns, start=1), key=lambda item: item[1].width):
        cols = [c for c, _ in group]
        ws.range((1, cols[0]), (1, cols[-1])).column_width = _width(book, width)
    header = ws.range((sheet.header_row, 1), (sheet.header_row, len(sheet.columns)))
    header.wrap_text = STYLES["header"].wrap
    if sheet.header_height:
        header.row_height = sheet.header_height
    if STYLES["title"].size:
        ws.range((1, 1)).font.size = STYLES["title"].size
    if sheet.signature:
        rows = sheet.signature_rows
        ws.range((rows[0], 1), (rows[-1], 1)).row_height = sheet.signature_height
    ws.freeze_panes.freeze_at(sheet.freeze_cell)


def _page_setup(ws: Any, setup: PageSetup, is_new: bool) -> None:
    """The print area on every refresh (the table's length changes); the rest of the page setup
    on a sheet we added, through Excel's own PageSetup object where the engine exposes it.

    xlwings' public API covers the print area only; orientation, fit to pages, print titles
    and header/footer go through ``page_setup.api`` on desktop Excel for Windows (COM). Other
    engines (macOS, xlwings Server/Lite) get the print area alone; the nightly file has it all.
    """
    if setup.print_area:
        ws.page_setup.print_area = setup.print_area
    if not is_new:
        return
    api = _excel_page_setup(ws)
    if api is None:
        return
    api.PaperSize = PAPER_A4
    api.Orientation = 2 if setup.orientation == LANDSCAPE else 1  # xlLandscape / xlPortrait
    api.Zoom = False
    api.FitToPagesWide = setup.fit_wide
    api.FitToPagesTall = setup.fit_tall or False
    if setup.title_rows_text:
        api.PrintTitleRows = "$" + setup.title_rows_text.replace(":", ":$")
    if setup.title_cols_text:
        api.PrintTitleColumns = "$" + setup.title_cols_text.replace(":", ":$")
    api.CenterHeader = setup.header_text
    api.CenterFooter = PAGE_FOOTER
    api.LeftFooter = header_escape(setup.footer_left)


def _excel_page_setup(ws: Any) -> Any:
    """Excel's PageSetup COM object, or None on engines without one."""
    if sys.platform != "win32" or ws.book.app.engine.name != "excel":
        return None
    try:
        return ws.page_setup.api
    except Exception:  # an engine without a native object
        return None


def _set_names(book: xlwings.Book, sheets: Sequence[SheetData]) -> None:
    for name, target in defined_names(sheets).items():
        if name in book.names:
            if Ref.parse(book.names[name].refers_to or "") != Ref.parse(target):
                book.names[name].refers_to = "=" + target
        else:
            book.names.add(name, "=" + target)
