"""How a sheet prints: page setup described as data, rendered by each writer that supports it.

Returns and summaries are printed on A4, signed and stamped, so every sheet we write says how
it prints: orientation, fit to one page wide (and tall where the sheet belongs on one page),
the print area, the rows and columns repeated on every page (header row, township code and
name), and a header with the sheet's title and a footer 第 &P 页 共 &N 页.

:class:`PageSetup` is plain data; :func:`apply_page_setup` renders it with openpyxl (template,
master workbook, receipts) and ``nianbao.plugin.xlwriter`` renders it through xlwings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the layout imports this module, and the reader must not load openpyxl
    from openpyxl.worksheet.worksheet import Worksheet

PAGE_FOOTER = "第 &P 页 共 &N 页"
PORTRAIT, LANDSCAPE = "portrait", "landscape"
PAPER_A4 = 9  # the paper size code Excel, openpyxl and xlwings' Excel API share

# Printable width of an A4 page in character widths of the default font (11pt Calibri/宋体,
# about 7 px per character at 100 %) with the margins below: what decides the orientation and
# how many pages wide a table prints so its text stays readable (scale not below ~65 %).
PRINTABLE_CHARS = {PORTRAIT: 95, LANDSCAPE: 140}
MIN_SCALE = 0.65
MARGINS_INCH = {"left": 0.4, "right": 0.4, "top": 0.6, "bottom": 0.6, "header": 0.25, "footer": 0.25}


@dataclass(frozen=True)
class PageSetup:
    """How one sheet prints. Rows and columns are 1-based; ``fit_tall`` 0 means "as many as needed"."""

    title: str  # printed in the page header
    orientation: str = PORTRAIT
    fit_wide: int = 1
    fit_tall: int = 0
    last_row: int | None = None  # print area A1:(last_row, last_col); None: what the sheet holds
    last_col: int | None = None
    title_rows: tuple[int, int] | None = None  # repeated at the top of every page
    title_cols: tuple[int, int] | None = None  # repeated at the left of every page
    footer_left: str = ""  # e.g. 数据截至 …

    @property
    def print_area(self) -> str | None:
        if self.last_row is None or self.last_col is None:
            return None
        from nianbao.workbooks.layout import col_letter  # the layout imports this module

        return f"A1:{col_letter(self.last_col)}{self.last_row}"

    @property
    def title_rows_text(self) -> str | None:
        return f"{self.title_rows[0]}:{self.title_rows[1]}" if self.title_rows else None

    @property
    def title_cols_text(self) -> str | None:
        from nianbao.workbooks.layout import col_letter

        return f"{col_letter(self.title_cols[0])}:{col_letter(self.title_cols[1])}" if self.title_cols else None

    @property
    def header_text(self) -> str:
        return header_escape(self.title)


def header_escape(text: str) -> str:
    """``&`` starts a code in Excel's header/footer language; a literal one is ``&&``."""
    return text.replace("&", "&&")


def pages_wide(widths: list[float], repeated: float = 0.0) -> tuple[str, int]:
    """(orientation, pages wide) for columns of ``widths`` characters, ``repeated`` of them
    printed again on every page: one portrait page if it fits at a readable scale, else one
    landscape page, else as few landscape pages as keep the scale readable."""
    total = sum(widths)
    for orientation in (PORTRAIT, LANDSCAPE):
        if total * MIN_SCALE <= PRINTABLE_CHARS[orientation]:
            return orientation, 1
    per_page = PRINTABLE_CHARS[LANDSCAPE] / MIN_SCALE - repeated
    rest = total - repeated
    return LANDSCAPE, max(1, -int(-rest // per_page))


def apply_page_setup(ws: Worksheet, setup: PageSetup) -> None:
    """Render ``setup`` on an openpyxl worksheet."""
    ws.page_setup.paperSize = PAPER_A4
    ws.page_setup.orientation = setup.orientation
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = setup.fit_wide
    ws.page_setup.fitToHeight = setup.fit_tall
    for side, inches in MARGINS_INCH.items():
        setattr(ws.page_margins, side, inches)
    ws.print_options.horizontalCentered = True
    if setup.print_area:
        ws.print_area = setup.print_area
    if setup.title_rows:
        ws.print_title_rows = setup.title_rows_text
    if setup.title_cols:
        ws.print_title_cols = setup.title_cols_text
    ws.oddHeader.center.text = setup.header_text
    ws.oddHeader.center.size = 10
    ws.oddFooter.center.text = PAGE_FOOTER
    ws.oddFooter.center.size = 9
    if setup.footer_left:
        ws.oddFooter.left.text = header_escape(setup.footer_left)
        ws.oddFooter.left.size = 9
