"""The receipt (回执) sent back to a township for one submission.

A 回执 sheet (nianbao.workbooks.receipt_sheet: conclusion, what to do, file, every finding, the
county's contact; one printed page) and, for a returned file, a copy of the township's own
return with every cell that has a finding filled red and carrying a comment with the Chinese
message, every sheet of it marked as not a return. The receipt leaves the county office, so the
ledger's names and ID numbers are masked in the copy.

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
from openpyxl.styles import PatternFill
from openpyxl.utils.cell import range_boundaries

from nianbao.lineage import neutral
from nianbao.schemas.county import Contact
from nianbao.schemas.findings import SEVERITY_LABEL, Finding, Report, Severity
from nianbao.schemas.models import LedgerRow, field_specs
from nianbao.schemas.privacy import mask_id, mask_name
from nianbao.workbooks.atomic import save_atomically
from nianbao.workbooks.receipt_sheet import RECEIPT_SHEET, RETURNED, ReceiptText, mark_not_a_return, verdict, write_receipt_sheet

AUTHOR = "县总工会"
RED = PatternFill("solid", fgColor="FFC7CE")
YELLOW = PatternFill("solid", fgColor="FFEB9C")
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
    contact: Contact | None = None  # the county's contact, from the county config


def receipt_name(township_code: str, township_name: str, period: str) -> str:
    return f"{township_code}_{township_name}_{period}_回执.xlsx"


def write_receipt(source: Path | None, report: Report, info: ReceiptInfo, out: Path) -> Path:
    """The receipt at ``out``: the 回执 sheet, plus the annotated copy of a returned file.

    Only a returned file (退回) carries the copy, to show where to correct the township's own
    file; an accepted one is the 回执 sheet alone, whose list gives sheet and cell of each
    提示, so it prints on a page or two.
    """
    marked = any(f.cell for f in report.findings)
    returned = verdict(info.accepted, info.decision, report.findings) == RETURNED
    wb = _copy_of_return(source) if source is not None and report.readable and marked and returned else None
    if wb is None:
        wb = Workbook()
        wb.remove(wb.active)
    else:
        _mark_findings(wb, report)
        _mask_ledger(wb)
        mark_not_a_return(wb)
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
    facts = [
        ("文件名", info.file_name),
        ("接收时间", info.received_at.strftime("%Y-%m-%d %H:%M")),
        ("问题", f"错误 {len(report.errors)} 处，提示 {len(report.warnings)} 处"),
    ]
    explained = sum(1 for f in report.warnings if f.note)
    if explained:
        facts.append(("其中已说明", f"{explained} 处（已在“情况说明”中说明原因，不再需要核实）"))
    if info.decision:
        facts.append(("县总工会审核意见", f"{info.decision}{'：' + info.reason if info.reason else ''}"))
    facts.append(("文件指纹", info.sha256))
    write_receipt_sheet(wb, ReceiptText(
        title=f"{info.township_name} {info.period} 年报回执",
        # a warning the township explained in 情况说明 is no longer an open query
        verdict=verdict(info.accepted, info.decision, [f for f in report.findings if not f.note]),
        facts=tuple(facts),
        findings=tuple(_explained(f) for f in report.findings),
        contact=info.contact,
    ), clean=neutral)


def _explained(finding: Finding) -> Finding:
    """The finding as listed: 已说明 with the township's text when it carries a 情况说明."""
    return finding.model_copy(update={"message": f"{finding.message}\n【已说明】{finding.note}"}) if finding.note else finding
