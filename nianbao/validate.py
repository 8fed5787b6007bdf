"""Validate one return file: read it, parse it into the schema, run the rules, place findings.

An invalid return is an expected outcome, not an exception: every path ends in a ``Report``.
A file that is not a usable return gets ``readable=False`` and one file-level finding; a bug
or an exotic library error while reading or checking gets ``file.internal`` (see
:func:`internal_finding`), never a traceback.

Every report leaves here masked by content (``nianbao.schemas.privacy.Masker``): ID numbers by
shape and the ledger's names wherever they occur in the file name or a finding, so the
console, ``--json``, the database, the master workbook and receipts only ever see masked text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from nianbao.schemas.county import CountyConfig
from nianbao.schemas.findings import Finding, Report, error
from nianbao.schemas.privacy import Masker, mask_text
from nianbao.schemas.models import TownshipReturn
from nianbao.schemas.parse import build_return
from nianbao.schemas.rules import RuleContext, run_rules
from nianbao.workbooks.layout import CellMap
from nianbao.workbooks.reader import RawReturn, ReturnReadError, read_return

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    """The outcome for one file: always a report; the parsed return when the file was readable."""

    report: Report
    ret: TownshipReturn | None = None
    cells: CellMap | None = None  # where each value was read (lineage), when the file was readable


def unreadable(name: str, code: str, message: str, sheet: str | None = None) -> Checked:
    report = Report(file=name, readable=False, findings=[error(code, message, sheet=sheet)])
    return Checked(mask_report(report, Masker()))


STAGES = {"read": "读取", "validate": "审核", "store": "入库", "receipt": "生成回执"}


def internal_finding(name: str, stage: str, exc: BaseException) -> Finding:
    """The finding for a failure of ours (or of a library) on one file at ``stage``."""
    return error(
        "file.internal",
        f"文件「{mask_text(name)}」在{STAGES.get(stage, stage)}时发生内部错误（{type(exc).__name__}），"
        "已跳过该文件，其他文件照常处理。请县总工会把该文件和运行日志转给系统维护人员处理；"
        "乡镇如对数据有把握，也可在模板中重新填写后再次报送",
    )


def check_file(path: Path | str, *, period: str | None = None, county: CountyConfig | None = None, name: str | None = None) -> Checked:
    path = Path(path)
    name = name or path.name
    try:
        raw = read_return(path)
    except ReturnReadError as exc:
        return unreadable(name, exc.code, exc.message, exc.sheet)
    except Exception as exc:  # a reader bug or an exotic file must not stop the other files
        log.warning("unexpected failure reading %s: %s", mask_text(name), type(exc).__name__)
        return unreadable(name, "file.unreadable", f"文件「{name}」无法读取（{type(exc).__name__}），请用 Excel 或 WPS 打开后另存为 .xlsx 再报送")
    try:
        return check_raw(raw, name=name, period=period, county=county)
    except Exception as exc:  # pydantic, decimal or a rule: still one finding on this file
        log.warning("unexpected failure checking %s: %s", mask_text(name), type(exc).__name__)
        return Checked(mask_report(Report(file=name, readable=False, findings=[internal_finding(name, "validate", exc)]), Masker()))


def check_raw(raw: RawReturn, *, name: str, period: str | None = None, county: CountyConfig | None = None) -> Checked:
    ret, cell_findings = build_return(raw.cover, raw.summary, raw.roster, raw.ledger, raw.aid, raw.notes)
    ctx = RuleContext(period=period, county=county)
    findings = [raw.cells.place(f) for f in (*cell_findings, *run_rules(ret, ctx))]
    report = Report(file=name, township=ret.cover.township_code, period=ret.cover.period, findings=findings)
    masker = ledger_masker(raw.ledger)
    return Checked(mask_report(report, masker), mask_notes(mask_return(ret, masker), masker), raw.cells)


def mask_notes(ret: TownshipReturn, masker: Masker) -> TownshipReturn:
    """``ret`` with a ledger name written in a 情况说明 masked (the store keeps the notes)."""
    notes = ret.notes.model_dump()
    masked = {k: masker(v) if isinstance(v, str) else v for k, v in notes.items()}
    return ret if masked == notes else ret.model_copy(update={"notes": type(ret.notes)(**masked)})


def ledger_masker(ledger: list[dict]) -> Masker:
    """A masker for the names read from the ledger (found by its header anchors)."""
    return Masker(row.get("name") for row in ledger if isinstance(row.get("name"), str))


def mask_return(ret: TownshipReturn, masker: Masker) -> TownshipReturn:
    """``ret`` with the texts the store keeps (township name, roster unit names) masked."""
    cover = ret.cover
    if masker(cover.township_name) != cover.township_name:
        cover = cover.model_copy(update={"township_name": masker(cover.township_name)})
    names = "\n".join(r.name or "" for r in ret.roster)
    if masker(names) == names:  # the usual case, in one pass: no roster name needs masking
        roster = ret.roster
    else:
        roster = [r if masker(r.name) == r.name else r.model_copy(update={"name": masker(r.name)}) for r in ret.roster]
    if cover is ret.cover and all(a is b for a, b in zip(roster, ret.roster)):
        return ret
    return ret.model_copy(update={"cover": cover, "roster": roster})


def mask_report(report: Report, masker: Masker) -> Report:
    """``report`` with the file name and every finding's text masked by content."""
    findings = []
    for f in report.findings:
        message, value = masker(f.message), masker(f.value)
        findings.append(f if (message, value) == (f.message, f.value) else f.model_copy(update={"message": message, "value": value}))
    return report.model_copy(update={"file": masker(report.file), "township": masker(report.township), "findings": findings})
