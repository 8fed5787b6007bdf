"""Validate one return file: read it, parse it into the schema, run the rules, place findings.

An invalid return is an expected outcome, not an exception: every path ends in a ``Report``.
A file that is not a usable return gets ``readable=False`` and one file-level finding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from nianbao.schemas.county import CountyConfig
from nianbao.schemas.findings import Report, error
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
    return Checked(Report(file=name, readable=False, findings=[error(code, message, sheet=sheet)]))


def check_file(path: Path | str, *, period: str | None = None, county: CountyConfig | None = None, name: str | None = None) -> Checked:
    path = Path(path)
    name = name or path.name
    try:
        raw = read_return(path)
    except ReturnReadError as exc:
        return unreadable(name, exc.code, exc.message, exc.sheet)
    except Exception as exc:  # a reader bug or an exotic file must not stop the other files
        log.warning("unexpected failure reading %s: %s", name, type(exc).__name__)
        return unreadable(name, "file.unreadable", f"文件「{name}」无法读取（{type(exc).__name__}），请用 Excel 或 WPS 打开后另存为 .xlsx 再报送")
    return check_raw(raw, name=name, period=period, county=county)


def check_raw(raw: RawReturn, *, name: str, period: str | None = None, county: CountyConfig | None = None) -> Checked:
    ret, cell_findings = build_return(raw.cover, raw.summary, raw.roster, raw.ledger, raw.aid, raw.notes)
    ctx = RuleContext(period=period, county=county)
    findings = [raw.cells.place(f) for f in (*cell_findings, *run_rules(ret, ctx))]
    report = Report(file=name, township=ret.cover.township_code, period=ret.cover.period, findings=findings)
    return Checked(report, ret, raw.cells)
