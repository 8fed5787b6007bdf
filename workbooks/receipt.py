"""The receipt (回执) sent back to a township for one submission.

A 回执 sheet (nianbao.workbooks.receipt_sheet: conclusion, what to do, file, every finding, the
county's contact; one printed page) and, for a returned file, a copy of the township's own
return with every cell that has a finding filled red and carrying a comment with the Chinese
message, every sheet of it marked as not a return. The receipt leaves the county office, so the
ledger's names and ID numbers are masked in the copy.

The copy is made safe (:func:`make_copy_safe`): the township's formulas become their values,
external links, macros and hyperlinks are dropped, every text passes through
``nianbao.workbooks.safe_text`` and is masked by content (ID numbers by shape anywhere, the
ledger's names wherever they occur, the ledger's name and ID columns found by their header
anchors — not by defined names a township may have deleted). The file lands inside the
outbox under a name made safe by :func:`receipt_path`, whatever the return says.

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

from nianbao.schemas.county import Contact
from nianbao.schemas.findings import SEVERITY_LABEL, Finding, Report, Severity
from nianbao.schemas.models import LedgerRow, field_specs
from nianbao.schemas.privacy import SENSITIVE_LEDGER_FIELDS, Masker, looks_like_id_number, mask_id, mask_name
from nianbao.workbooks.atomic import save_atomically
from nianbao.workbooks.receipt_sheet import RECEIPT_SHEET, RETURNED, ReceiptText, mark_not_a_return, verdict, write_receipt_sheet
from nianbao.workbooks.safe_text import safe_filename, safe_text

AUTHOR = "县总工会"
RED = PatternFill("solid", fgColor="FFC7CE")
YELLOW = PatternFill("solid", fgColor="FFEB9C")


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
    parts = (safe_filename(township_code, "未知代码"), safe_filename(township_name, "未知乡镇"), safe_filename(period, "未知报告期"))
    return "_".join(parts) + "_回执.xlsx"


def receipt_path(outbox: Path | str, name: str) -> Path:
    """``outbox / name`` with ``name`` reduced to one safe file name: never outside ``outbox``."""
    stem = name[: -len(".xlsx")] if name.lower().endswith(".xlsx") else name
    path = Path(outbox) / (safe_filename(stem, "回执") + ".xlsx")
    if path.resolve().parent != Path(outbox).resolve():  # cannot happen after safe_filename; kept as the guarantee
        raise ValueError(f"receipt outside the outbox: {path}")
    return path


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
        make_copy_safe(wb)
        _mark_findings(wb, report)
        mark_not_a_return(wb)
    _receipt_sheet(wb, report, info)
    return save_atomically(wb, out)


def _copy_of_return(source: Path) -> Workbook | None:
    """The township's workbook with cached values in place of its formulas, no links, no macros."""
    if source.suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    try:
        return load_workbook(source, data_only=True, keep_links=False, keep_vba=False)
    except Exception:
        return None


def make_copy_safe(wb: Workbook) -> None:
    """Mask personal data by content and neutralise every text of a township's workbook.

    The ledger's name and ID columns (found by header anchors) are masked whole; the names read
    there, and ID numbers by shape, are then masked in every cell, comment and sheet title.
    Numbers the size of an ID number (typed into a number cell) are masked too. Text that could
    act as a formula becomes literal; hyperlinks are dropped (they may point anywhere).
    """
    masker = Masker(_mask_ledger(wb))
    for ws in wb.worksheets:
        title = masker(ws.title)
        if title != ws.title:
            ws.title = safe_filename(title, "工作表")[:31]
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, str):
                    safe = safe_text(masker(value))
                    if safe != value:
                        cell.value = safe
                elif isinstance(value, (int, float)) and not isinstance(value, bool) and looks_like_id_number(value):
                    cell.value = mask_id(format(value, ".0f"))
                if cell.comment is not None:
                    cell.comment = Comment(safe_text(masker(cell.comment.text) or ""), AUTHOR)
                if cell.hyperlink is not None:
                    cell.hyperlink = None
        ws._hyperlinks = []


def _mark_findings(wb: Workbook, report: Report) -> None:
    by_cell: dict[tuple[str, str], list] = {}
    for f in report.findings:
        if f.sheet in wb.sheetnames and f.cell:
            by_cell.setdefault((f.sheet, f.cell), []).append(f)
    for (sheet, cell), findings in by_cell.items():
        target = wb[sheet][cell]
        errors = any(f.severity is Severity.ERROR for f in findings)
        target.fill = RED if errors else YELLOW
        text = safe_text("\n".join(f"[{SEVERITY_LABEL[f.severity]}] {f.message}" for f in findings))
        target.comment = Comment(text, AUTHOR, width=320, height=120)


def _anchor(value: object) -> str:
    return "".join(value.split()).rstrip("：:*＊") if isinstance(value, str) else ""


def _mask_ledger(wb: Workbook) -> list[str]:
    """Mask the ledger's name and ID columns below every header row that carries both their
    headers (on any sheet, wherever rows or columns were moved); return the names found."""
    headers = {_anchor(s.header): s.name for s in field_specs(LedgerRow) if s.name in SENSITIVE_LEDGER_FIELDS}
    names: list[str] = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            found = {headers[_anchor(c.value)]: c.column for c in row if _anchor(c.value) in headers}
            if len(found) < len(headers):
                continue
            for r in range(row[0].row + 1, ws.max_row + 1):
                for field, col in found.items():
                    cell = ws.cell(r, col)
                    if cell.value in (None, ""):
                        continue
                    text = format(cell.value, ".0f") if isinstance(cell.value, float) else str(cell.value)
                    if field == "name":
                        names.append(text.strip())
                    cell.value = safe_text(mask_id(text) if field == "id_number" else mask_name(text))
    return names


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
        title=safe_text(f"{info.township_name} {info.period} 年报回执"),
        # a warning the township explained in 情况说明 is no longer an open query
        verdict=verdict(info.accepted, info.decision, [f for f in report.findings if not f.note]),
        facts=tuple(facts),
        findings=tuple(_explained(f) for f in report.findings),
        contact=info.contact,
    ), clean=safe_text)


def _explained(finding: Finding) -> Finding:
    """The finding as listed: 已说明 with the township's text when it carries a 情况说明."""
    return finding.model_copy(update={"message": f"{finding.message}\n【已说明】{finding.note}"}) if finding.note else finding
