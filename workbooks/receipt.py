"""The receipt (回执) sent back to a township for one submission.

A copy of the township's own return with every cell that has a finding filled red and carrying
a comment with the Chinese message, plus a 回执 sheet in front (file name, sha256, received time,
accepted or rejected, the county's decision, every finding). The receipt leaves the county
office, so the ledger's names and ID numbers are masked in the copy.

Only .xlsx/.xlsm returns can be copied with their formatting (openpyxl); for .xls/.ods or an
unreadable file the receipt carries the 回执 sheet alone, whose findings list sheet and cell.
A return with no finding on any cell has nothing to mark, so its receipt is the 回执 sheet
alone too: copying a clean 300-row return costs ten times more than the receipt itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import range_boundaries

from nianbao.lineage import neutral
from nianbao.schemas.findings import SEVERITY_LABEL, Report, Severity
from nianbao.schemas.models import LedgerRow, field_specs
from nianbao.schemas.privacy import mask_id, mask_name
from nianbao.workbooks.atomic import save_atomically

RECEIPT_SHEET = "回执"
AUTHOR = "县总工会"
RED = PatternFill("solid", fgColor="FFC7CE")
YELLOW = PatternFill("solid", fgColor="FFEB9C")
HEADER = PatternFill("solid", fgColor="DDEBF7")
LEDGER_NAME = "NB_LEDGER"


@dataclass(frozen=True)
class ReceiptInfo:
    township_name: str
    period: str
    file_name: str
    sha256: str
    received_at: datetime
    accepted: bool
    decision: str = ""  # the county's 审核意见: 通过 / 退回 / ""
    reason: str = ""


def receipt_name(township_code: str, township_name: str, period: str) -> str:
    return f"{township_code}_{township_name}_{period}_回执.xlsx"


def write_receipt(source: Path | None, report: Report, info: ReceiptInfo, out: Path) -> Path:
    marked = any(f.cell for f in report.findings)
    wb = _copy_of_return(source) if source is not None and report.readable and marked else None
    if wb is None:
        wb = Workbook()
        wb.remove(wb.active)
    else:
        _mark_findings(wb, report)
        _mask_ledger(wb)
    _receipt_sheet(wb, report, info)
    return save_atomically(wb, out)


def _copy_of_return(source: Path) -> Workbook | None:
    if source.suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    try:
        return load_workbook(source)
    except Exception:
        return None


def _mark_findings(wb: Workbook, report: Report) -> None:
    by_cell: dict[tuple[str, str], list] = {}
    for f in report.findings:
        if f.sheet in wb.sheetnames and f.cell:
            by_cell.setdefault((f.sheet, f.cell), []).append(f)
    for (sheet, cell), findings in by_cell.items():
        target = wb[sheet][cell]
        errors = any(f.severity is Severity.ERROR for f in findings)
        target.fill = RED if errors else YELLOW
        text = "\n".join(f"[{SEVERITY_LABEL[f.severity]}] {f.message}" for f in findings)
        target.comment = Comment(text, AUTHOR, width=320, height=120)


def _mask_ledger(wb: Workbook) -> None:
    """Mask names and ID numbers in the ledger's data range (found by its defined name)."""
    defined = wb.defined_names.get(LEDGER_NAME)
    if defined is None:
        return
    labels = {s.label: s.name for s in field_specs(LedgerRow)}
    for sheet_name, ref in defined.destinations:
        if sheet_name not in wb.sheetnames:
            continue
        ws = wb[sheet_name]
        min_col, min_row, max_col, max_row = range_boundaries(ref.replace("$", ""))
        header_row = min_row - 1
        for col in range(min_col, max_col + 1):
            header = str(ws.cell(header_row, col).value or "")
            field = next((name for label, name in labels.items() if header.startswith(label)), None)
            if field not in ("name", "id_number"):
                continue
            masker = mask_id if field == "id_number" else mask_name
            for row in range(min_row, max_row + 1):
                cell = ws.cell(row, col)
                if cell.value not in (None, ""):
                    cell.value = masker(str(cell.value))


def _receipt_sheet(wb: Workbook, report: Report, info: ReceiptInfo) -> None:
    ws = wb.create_sheet(RECEIPT_SHEET, 0)
    wb.active = 0
    for sheet in wb.worksheets:
        sheet.sheet_view.tabSelected = sheet is ws
    returned = info.decision == "退回"
    verdict = "退回" if returned or not info.accepted else "已接收"
    ws.append([f"{info.township_name} {info.period} 年报回执"])
    ws["A1"].font = Font(bold=True, size=14)
    rows = [
        ("文件名", info.file_name),
        ("文件指纹（SHA-256）", info.sha256),
        ("接收时间", info.received_at.strftime("%Y-%m-%d %H:%M")),
        ("审核结论", verdict),
        ("错误数", len(report.errors)),
        ("提示数", len(report.warnings)),
    ]
    explained = sum(1 for f in report.warnings if f.note)
    if explained:
        rows.append(("其中已说明", f"{explained}（已在“情况说明”中说明原因，不再需要核实）"))
    if info.decision:
        rows.append(("县总工会审核意见", f"{info.decision}{'：' + info.reason if info.reason else ''}"))
    for label, value in rows:
        ws.append([label, value])
        ws.cell(ws.max_row, 1).font = Font(bold=True)
    ws.append([])
    if verdict == "退回":
        note = "请按下列问题修改后重新报送整个文件；标红的单元格带有批注说明。"
    elif report.findings:
        note = "报表已接收；下列提示请核实，如有误请修改后重新报送。"
    else:
        note = "报表已接收，未发现问题。"
    ws.append([note])
    ws.append([])
    ws.append(["序号", "级别", "工作表", "单元格", "问题说明"])
    header_row = ws.max_row
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.fill = HEADER
    for n, f in enumerate(report.findings, 1):
        message = f"{f.message}\n【已说明】{f.note}" if f.note else f.message
        ws.append([n, SEVERITY_LABEL[f.severity], f.sheet or "", f.cell or "", neutral(message)])
        ws.cell(ws.max_row, 5).alignment = Alignment(wrap_text=True, vertical="top")
    for col, width in enumerate((22, 70, 16, 10, 70), 1):
        ws.column_dimensions[get_column_letter(col)].width = width
