"""Reporting upward: this unit's result as a return on the standard template, for the level above.

A county reports to its city on the same template its townships fill: the cover names the
county, the summary holds the county totals (rates are formulas over those totals, never
averages), the roster lists every base-level union of the county with its township, and the
hardship ledger is replaced by 帮扶汇总 — counts and amounts by 困难类型 and 帮扶方式 — because
names and ID numbers stay in the county. Everything comes from the store (what the last runs
recorded), never from re-reading the townships' files.

The return is refused while the county's own returns have open errors (a township's latest file
rejected, or sent back by the county), unless forced; a forced return says so on its cover
(备注), and the city's rule ``cover.forced`` shows it on the city's 审核问题.

The same function serves a city reporting to its province: its units are then counties, whose
returns already carry 帮扶汇总 instead of a ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.workbook.defined_name import DefinedName

from nianbao.consolidate import Consolidation, TownshipStatus, consolidate
from nianbao.grouping import DIM_AID
from nianbao.schemas.county import CountyConfig, Township
from nianbao.schemas.findings import Report, Severity
from nianbao.schemas.indicators import INDICATORS
from nianbao.schemas.models import Period
from nianbao.schemas.rules import FORCED_MARK
from nianbao.store import Store
from nianbao.validate import check_file
from nianbao.workbooks import layout as L
from nianbao.workbooks.atomic import save_atomically
from nianbao.workbooks.safe_text import safe_value
from nianbao.workbooks.sample import fill_workbook
from nianbao.workbooks.template import build_template


class OpenErrors(Exception):
    """The unit's own returns still have errors; the message (Chinese) lists the units."""


@dataclass
class Contact:
    """Who fills and signs the return reported upward (the cover's 填表人, 联系电话, 单位负责人)."""

    filler: str | None = None
    phone: str | None = None
    head: str | None = None


@dataclass
class UpwardReturn:
    path: Path
    consolidation: Consolidation
    report: Report  # the written file checked as the upper level checks it
    forced: bool
    open_errors: list[str] = field(default_factory=list)  # "代码 名称：状态" of each unit with open errors
    missing: list[str] = field(default_factory=list)  # units that have not reported


def upward_filename(config: CountyConfig, period: str) -> str:
    return f"{config.county_code}_{config.county_name}_{Period(period)}年报（上报）.xlsx"


def _open_errors(c: Consolidation) -> list[str]:
    """Units whose latest file was rejected or that the unit's staff sent back (状态 退回)."""
    st = c.status
    rows = st[st["status"] == TownshipStatus.SENT_BACK.value]
    return [f"{r.township_code} {r.township_name}" for r in rows.itertuples(index=False)]


def _missing(c: Consolidation) -> list[str]:
    st = c.status
    rows = st[st["status"] == TownshipStatus.MISSING.value]
    return [f"{r.township_code} {r.township_name}" for r in rows.itertuples(index=False)]


def _summary_values(c: Consolidation) -> dict[str, object]:
    out: dict[str, object] = {}
    for ind in INDICATORS:
        value = c.totals.get(ind.code)
        if value is None or pd.isna(value):
            out[ind.code] = None
        elif ind.is_money:
            out[ind.code] = float(Decimal(str(value)).quantize(Decimal("0.01")))
        else:
            out[ind.code] = int(value)
    return out


def _roster(store: Store, config: CountyConfig, period: str) -> list[dict]:
    """Every roster row of the current returns, in config order, each with its township's name.

    A row that already names a township (a county's roster at a city) keeps it.
    """
    names = {t.code: t.name for t in config.townships}
    order = {t.code: i for i, t in enumerate(config.townships)}
    rows = [(code, data) for code, data in store.roster_details(period) if code in names]
    rows.sort(key=lambda item: order[item[0]])  # stable: each return's rows stay in their order
    out = []
    for code, data in rows:
        row = dict(data)
        row["township"] = row.get("township") or names[code]
        out.append(row)
    return out


def _aid(store: Store, config: CountyConfig, period: str) -> list[dict]:
    """帮扶汇总: the current returns' counts and amounts (元) by 困难类型 and 帮扶方式, summed."""
    t = store.group_totals(period, dimensions=(DIM_AID,))
    t = t[t["township_code"].isin({u.code for u in config.townships})]
    if t.empty:
        return []
    sums: dict[str, dict[str, Decimal]] = {}
    for rec in t.itertuples(index=False):
        sums.setdefault(rec.grp, {"cases": Decimal(0), "amount": Decimal(0)})[rec.measure] += Decimal(str(rec.value))
    rows = []
    for grp, m in sums.items():  # the store keeps each return's rows in the model's order
        hardship_type, _, aid_method = grp.partition("|")
        rows.append({"hardship_type": hardship_type, "aid_method": aid_method, "cases": int(m["cases"]), "amount": float(m["amount"])})
    return rows


def _fit_roster(wb: Workbook, rows: int) -> None:
    """Stretch the roster's input range (defined name and Excel table) when a county's units
    outnumber the template's pre-formatted rows; the reader reads to the end of the sheet."""
    table = L.ROSTER
    if rows <= table.capacity:
        return
    last = table.first_row + rows - 1
    ref = L.Ref(table.sheet, table.first_row, 1, last, table.last_col)
    wb.defined_names[table.range_name] = DefinedName(table.range_name, attr_text=ref.text)
    wb[table.sheet].tables[table.table_name].ref = f"A{table.header_row}:{L.col_letter(table.last_col)}{last}"


def build_values(
    store: Store, config: CountyConfig, c: Consolidation, contact: Contact, forced: bool, today: date
) -> dict:
    note = None
    if forced:
        note = f"{FORCED_MARK}：上报时本{config.level.value}仍有 {len(_open_errors(c))} 个{config.info.child}的报表存在未解决的审核错误"
    return {
        "cover": {
            "township_code": config.county_code,
            "township_name": config.county_name,
            "period": str(c.period),
            "filler": contact.filler,
            "phone": contact.phone,
            "head": contact.head,
            "fill_date": today,
            "note": note,
        },
        "summary": _summary_values(c),
        "roster": _roster(store, config, c.period),
        "ledger": [],
        "aid": _aid(store, config, c.period),
    }


def literal(values: dict) -> dict:
    """``values`` with every text made literal (``nianbao.workbooks.safe_text``): unit names come
    from townships' files and must not become formulas in the return sent upward."""
    return {
        section: {k: safe_value(v) for k, v in part.items()} if isinstance(part, dict) else [{k: safe_value(v) for k, v in row.items()} for row in part]
        for section, part in values.items()
    }


def report_up(
    store: Store,
    config: CountyConfig,
    period: str,
    out: Path | str,
    *,
    contact: Contact | None = None,
    force: bool = False,
    as_of: datetime | None = None,
) -> UpwardReturn:
    """Write this unit's return for the level above to ``out`` and check it as that level would.

    Raises :class:`OpenErrors` (nothing written) while units have open errors and not ``force``.
    """
    period = str(Period(period))
    as_of = as_of or datetime.now()
    stale = [code for code in store.without_details(period) if config.township(code)]
    if stale:
        raise OpenErrors(
            f"{'、'.join(f'{code} {config.township(code).name}' for code in stale)} 的现行报表是在本版本之前入库的，"
            "数据库中没有名册明细和帮扶汇总，无法生成上报报表；请把这些报表文件重新放入收件箱（另存一次即可）后运行 nianbao run"
        )
    c = consolidate(config, store.load_inputs(period), as_of)
    open_errors = _open_errors(c)
    if open_errors and not force:
        raise OpenErrors(
            f"{config.county_name}{Period(period).label}仍有 {len(open_errors)} 个{config.info.child}的报表存在未解决的审核错误："
            f"{'、'.join(open_errors)}；请先处理（重新报送或在报送情况中审核通过），或加 --force 强制上报（封面备注会注明）"
        )
    values = build_values(store, config, c, contact or Contact(), bool(open_errors), as_of.date())
    wb = build_template(Township(code=config.county_code, name=config.county_name), period, as_of)
    _fit_roster(wb, len(values["roster"]))
    fill_workbook(wb, literal(values))
    path = save_atomically(wb, out)
    report = check_file(path, period=period).report
    return UpwardReturn(path, c, report, bool(open_errors), open_errors, _missing(c))


def errors_of(report: Report) -> list[str]:
    return [f.message for f in report.findings if f.severity is Severity.ERROR]
