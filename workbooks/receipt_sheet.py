"""The 回执 sheet of a receipt: what a township reads, prints on one page and acts on.

From the top: the title; the conclusion (通过 / 退回 / 有问题需说明) in large type; what to do,
in one sentence (a returned file is corrected in the township's *own* file and sent again —
never the receipt, whose copy of the return has masked names and ID numbers); the file it is
about; the problems with sheet, cell and message; the county's contact; and a line saying
this file is a receipt, not a return.

It prints on one A4 portrait page. Beyond :data:`LISTED` problems the rest go on a second sheet,
全部问题 (a page that needs a magnifying glass helps nobody). Every copied sheet of the return
is marked as not a return (:func:`mark_not_a_return`), and the reader recognises any receipt
by its 回执 sheet or the ``_meta`` marker (``layout.SHEET_RECEIPT``, ``layout.META_RECEIPT``).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.worksheet import Worksheet

from nianbao.schemas.county import Contact
from nianbao.schemas.findings import SEVERITY_LABEL, Finding, Severity
from nianbao.workbooks import layout as L
from nianbao.workbooks.printing import PORTRAIT, PageSetup, apply_page_setup

RECEIPT_SHEET = L.SHEET_RECEIPT
ALL_FINDINGS_SHEET = "全部问题"
NOT_A_RETURN = "县总工会回执附件（标注副本）——不是报表，请勿报送"
LISTED = 25  # problems listed on the one-page 回执 sheet

PASSED, RETURNED, EXPLAIN = "通过", "退回", "有问题需说明"
WHAT_TO_DO = {
    RETURNED: "请在您原来的报表文件上修改后重新报送。不要报送本回执，也不要在本回执上修改"
    "（回执中报表副本的姓名、身份证号已遮盖，报送回执会被再次退回）。",
    EXPLAIN: "报表已接收。请逐条核实下列提示：数据无误的，请向县总工会说明情况；数据有误的，"
    "请在您原来的报表文件上修改后重新报送。",
    PASSED: "报表已接收，审核通过，无需再报送。",
}
VERDICT_FILL = {RETURNED: "FFC7CE", EXPLAIN: "FFEB9C", PASSED: "C6EFCE"}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
THIN = Side(style="thin", color="BFBFBF")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP_TOP = Alignment(wrap_text=True, vertical="top")

# Columns: 序号 | 级别 | 工作表 | 单元格 | 问题说明; labels span A:B, values C:E.
COLUMNS = (("序号", 6), ("级别", 7), ("工作表", 16), ("单元格", 9), ("问题说明", 62))
LAST_COL = len(COLUMNS)
LINE_HEIGHT = 15.0  # points per line of 11 pt text


def verdict(accepted: bool, decision: str, findings: Sequence[Finding]) -> str:
    """退回 when the county returned it or it has errors; 有问题需说明 while warnings are open;
    通过 otherwise (also when the county passed it despite warnings)."""
    if decision == RETURNED or not accepted:
        return RETURNED
    if decision != PASSED and any(f.severity is Severity.WARNING for f in findings):
        return EXPLAIN
    return PASSED


def text_lines(text: str, width: float) -> int:
    """How many lines ``text`` wraps to in a column ``width`` characters wide (CJK count 2)."""
    lines = 0
    for part in str(text).split("\n"):
        units = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in part)
        lines += max(1, math.ceil(units / max(width - 1, 1)))
    return lines


@dataclass(frozen=True)
class ReceiptText:
    """What the 回执 sheet says; every value already made safe by the caller's ``clean``."""

    title: str
    verdict: str
    facts: tuple[tuple[str, str], ...]  # label, value
    findings: tuple[Finding, ...]
    contact: Contact | None = None


def write_receipt_sheet(wb: Workbook, receipt: ReceiptText, clean: Callable[[str], str] = str) -> Worksheet:
    """The 回执 sheet in front of ``wb`` (and 全部问题 after it when there are many problems)."""
    ws = wb.create_sheet(RECEIPT_SHEET, 0)
    wb.active = 0
    for sheet in wb.worksheets:
        sheet.sheet_view.tabSelected = sheet is ws
    for col, (_, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[L.col_letter(col)].width = width
    total_width = sum(w for _, w in COLUMNS)

    row = _line(ws, 1, receipt.title, Font(bold=True, size=16), height=28)
    label = ws.cell(2, 1, "审核结论")
    label.font = Font(bold=True, size=14)
    label.alignment = Alignment(vertical="center")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=2)
    conclusion = ws.cell(2, 3, receipt.verdict)
    conclusion.font = Font(bold=True, size=20, color="9C0006" if receipt.verdict == RETURNED else "000000")
    conclusion.fill = PatternFill("solid", fgColor=VERDICT_FILL[receipt.verdict])
    conclusion.alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(start_row=2, start_column=3, end_row=2, end_column=LAST_COL)
    ws.row_dimensions[2].height = 34
    todo = WHAT_TO_DO[receipt.verdict]
    row = _line(ws, 3, "怎么办：" + todo, Font(bold=True, size=12), height=18 * text_lines("怎么办：" + todo, total_width * 0.9))
    row += 1
    for name, value in receipt.facts:
        ws.cell(row, 1, name).font = Font(bold=True)
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
        ws.cell(row, 3, clean(value)).alignment = WRAP_TOP
        ws.merge_cells(start_row=row, start_column=3, end_row=row, end_column=LAST_COL)
        ws.row_dimensions[row].height = LINE_HEIGHT * text_lines(value, total_width - 13)
        row += 1
    row += 1
    listed = receipt.findings[:LISTED]
    if receipt.findings:
        row = _findings_table(ws, row, listed, clean)
        if len(receipt.findings) > LISTED:
            more = f"另有 {len(receipt.findings) - LISTED} 处问题，见「{ALL_FINDINGS_SHEET}」工作表。"
            row = _line(ws, row, more, Font(bold=True))
            _all_findings(wb, receipt, clean)
        row += 1
    contact = receipt.contact.line if receipt.contact else "如有疑问，请与县总工会联系。"
    row = _line(ws, row, clean(contact), Font(bold=True))
    row = _line(ws, row, "本文件是县总工会发回的回执，不是报表，请勿将本文件作为报表报送。", Font(color="9C0006"))
    apply_page_setup(ws, PageSetup(clean(receipt.title), PORTRAIT, 1, 1, row - 1, LAST_COL))
    return ws


def _line(ws: Worksheet, row: int, text: str, font: Font, height: float | None = None) -> int:
    """One line of text across all columns; returns the next row."""
    cell = ws.cell(row, 1, text)
    cell.font = font
    cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=LAST_COL)
    if height:
        ws.row_dimensions[row].height = height
    return row + 1


def _findings_table(ws: Worksheet, row: int, findings: Sequence[Finding], clean: Callable[[str], str]) -> int:
    for col, (header, _) in enumerate(COLUMNS, start=1):
        cell = ws.cell(row, col, header)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.border = BORDER
    message_width = COLUMNS[-1][1]
    for n, f in enumerate(findings, start=1):
        row += 1
        values = (n, SEVERITY_LABEL[f.severity], clean(f.sheet or ""), clean(f.cell or ""), clean(f.message))
        for col, value in enumerate(values, start=1):
            cell = ws.cell(row, col, value)
            cell.alignment = WRAP_TOP
            cell.border = BORDER
            if f.severity is Severity.ERROR and col == 2:
                cell.font = Font(color="9C0006", bold=True)
        ws.row_dimensions[row].height = LINE_HEIGHT * text_lines(values[-1], message_width) + 3
    return row + 1


def _all_findings(wb: Workbook, receipt: ReceiptText, clean: Callable[[str], str]) -> None:
    ws = wb.create_sheet(ALL_FINDINGS_SHEET, 1)
    for col, (_, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[L.col_letter(col)].width = width
    _line(ws, 1, f"{receipt.title}：全部问题（{len(receipt.findings)} 处）", Font(bold=True, size=14))
    last = _findings_table(ws, 2, receipt.findings, clean) - 1
    apply_page_setup(ws, PageSetup(clean(receipt.title), PORTRAIT, 1, 0, last, LAST_COL, title_rows=(2, 2)))


def mark_not_a_return(wb: Workbook) -> None:
    """Mark every sheet of the annotated copy as not a return: a red line in the page header on
    every printed page, the sheet title prefixed, a red tab, and the ``_meta`` marker. A sheet
    without a page setup of its own gets one (A4, one page wide)."""
    banner = "【回执附件，不是报表，请勿报送】"
    for ws in wb.worksheets:
        if ws.title == L.SHEET_META:
            row = ws.max_row + 1
            ws.cell(row, L.META_KEY_COL, L.META_RECEIPT[0])
            ws.cell(row, L.META_VALUE_COL, L.META_RECEIPT[1])
            continue
        ws.sheet_properties.tabColor = "C00000"
        if not (ws.sheet_properties.pageSetUpPr and ws.sheet_properties.pageSetUpPr.fitToPage):
            # a return on an older or foreign template: at least one page wide, not a page per column
            apply_page_setup(ws, PageSetup(ws.title, PORTRAIT, 1, 0))
        header = ws.oddHeader.center
        header.text = NOT_A_RETURN + (f"｜{header.text}" if header.text else "")  # one line: no newline in headers
        header.color = "C00000"
        first = ws.cell(1, 1)
        if first.value is None or isinstance(first.value, str):
            first.value = banner + (first.value or "")
            first.font = Font(bold=True, size=12, color="C00000")
