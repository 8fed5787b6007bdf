"""What changed since the previous publish: returns, figures and lateness.

Every consolidation leaves a small JSON snapshot in the store (``publishes``): per township the
current return (file, received time, short SHA-256), the status, the latest file and the
values; and the county totals. The next consolidation of the same period compares itself with
the latest snapshot: returns new, superseded (corrected) or sent back, every indicator whose
county total or township figure changed (old → new, and the file the new figure came from),
and townships that became late. :meth:`Changes.line` says it in one Chinese line for the
console and the Prefect summary; the 变动情况 sheet lists it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from nianbao.lineage import fmt_value, neutral
from nianbao.schemas.indicators import BY_CODE, INDICATORS

if TYPE_CHECKING:
    from nianbao.consolidate import Consolidation

TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class ReturnChange:
    township_code: str
    township_name: str
    kind: str  # 新报送 | 更正替换 | 退回
    detail: str


@dataclass(frozen=True)
class FigureChange:
    township_code: str  # "" for the county total
    township_name: str  # "全县合计" for the county total
    code: str
    old: float | int | None
    new: float | int | None
    source: str  # the file the new figure came from ("" for the county total)


@dataclass(frozen=True)
class LateChange:
    township_code: str
    township_name: str
    detail: str


@dataclass(frozen=True)
class Changes:
    previous_at: datetime | None  # None: this is the period's first publish
    returns: tuple[ReturnChange, ...] = ()
    figures: tuple[FigureChange, ...] = ()
    late: tuple[LateChange, ...] = ()

    @property
    def first(self) -> bool:
        return self.previous_at is None

    @property
    def empty(self) -> bool:
        return not (self.returns or self.figures or self.late)

    def count(self, kind: str) -> int:
        return sum(1 for r in self.returns if r.kind == kind)

    def line(self) -> str:
        """One Chinese line: what changed since the previous publish, or that nothing did."""
        if self.first:
            return "本报告期首次汇总发布，没有上次发布可比较"
        since = f"与上次发布（{self.previous_at:{TIME_FORMAT}}）相比"
        if self.empty:
            return f"{since}没有变化"
        totals = sum(1 for f in self.figures if not f.township_code)
        towns = sum(1 for f in self.figures if f.township_code)
        parts = [
            f"新报送 {self.count('新报送')} 个、更正替换 {self.count('更正替换')} 个、退回 {self.count('退回')} 个",
            f"全县合计变动 {totals} 项、乡镇数字变动 {towns} 处",
            f"新增逾期 {len(self.late)} 个",
        ]
        return f"{since}：" + "；".join(parts)


# --- snapshots -----------------------------------------------------------------------------------


def _number(value: Any) -> float | int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    number = float(value)
    return int(number) if number.is_integer() else round(number, 2)


def _time(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).strftime(TIME_FORMAT)


def snapshot(c: Consolidation) -> dict[str, Any]:
    """What ``c`` shows, as JSON the store keeps (values as numbers, times as text)."""
    towns: dict[str, Any] = {}
    current = c.sources.drop_duplicates("township_code").set_index("township_code") if len(c.sources) else None
    values = c.by_township.set_index("township_code") if len(c.by_township) else None
    for rec in c.status.to_dict("records"):
        code = str(rec["township_code"])
        town: dict[str, Any] = {
            "name": str(rec["township_name"]),
            "status": str(rec["status"]),
            "latest_file": str(rec["file_name"] or ""),
            "latest_received": _time(rec["last_received"]),
            "current": None,
            "values": {},
        }
        if current is not None and code in current.index:
            src = current.loc[code]
            town["current"] = {"file": str(src["file_name"]), "received": _time(src["received_at"]), "sha256": str(src["sha256"] or "")}
        if values is not None and code in values.index:
            town["values"] = {i.code: _number(values.at[code, i.code]) for i in INDICATORS}
        towns[code] = town
    return {
        "as_of": c.as_of.strftime(TIME_FORMAT),
        "due": c.due.isoformat() if c.due else None,
        "totals": {i.code: _number(c.totals.get(i.code)) for i in INDICATORS},
        "townships": towns,
    }


def _file(entry: dict[str, Any] | None) -> str:
    return f"「{entry['file']}」（接收 {entry['received']}）" if entry else ""


def _differs(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(float(old) - float(new)) >= 0.005


def compare(previous: dict[str, Any] | None, now: dict[str, Any]) -> Changes:
    """The changes from snapshot ``previous`` (None before the first publish) to ``now``."""
    if previous is None:
        return Changes(None)
    prev_at = datetime.strptime(previous["as_of"], TIME_FORMAT)
    returns: list[ReturnChange] = []
    figures: list[FigureChange] = []
    late: list[LateChange] = []
    for code in INDICATORS:
        old, new = previous.get("totals", {}).get(code.code), now["totals"].get(code.code)
        if _differs(old, new):
            figures.append(FigureChange("", "全县合计", code.code, old, new, ""))
    due = date.fromisoformat(now["due"]) if now.get("due") else None
    now_at = datetime.strptime(now["as_of"], TIME_FORMAT)
    for tcode, town in now["townships"].items():
        before = previous.get("townships", {}).get(tcode) or {"status": "未报", "current": None, "values": {}, "latest_file": ""}
        name = town["name"]
        cur, old_cur = town["current"], before.get("current")
        if cur and not old_cur:
            returns.append(ReturnChange(tcode, name, "新报送", f"收到文件{_file(cur)}，已计入汇总"))
        elif cur and old_cur and cur.get("sha256") != old_cur.get("sha256"):
            returns.append(ReturnChange(tcode, name, "更正替换", f"文件{_file(cur)}替换了{_file(old_cur)}"))
        if town["status"] == "退回" and before.get("status") != "退回":
            returns.append(ReturnChange(tcode, name, "退回", f"最新文件「{town['latest_file']}」被退回（见「审核问题」「报送情况」）"))
        if town["status"] == "逾期" and before.get("status") != "逾期":
            late.append(LateChange(tcode, name, f"截止日期后才报送有效报表{_file(cur)}"))
        elif town["status"] == "未报" and due is not None and prev_at.date() <= due < now_at.date():
            late.append(LateChange(tcode, name, f"已过报送截止日期 {due:%Y-%m-%d}，仍未报送"))
        source = f"「{cur['file']}」" if cur else ""
        for ind in INDICATORS:
            old, new = before.get("values", {}).get(ind.code), town["values"].get(ind.code)
            if _differs(old, new):
                figures.append(FigureChange(tcode, name, ind.code, old, new, source))
    return Changes(prev_at, tuple(returns), tuple(figures), tuple(late))


# --- the 变动情况 sheet --------------------------------------------------------------------------

NB_CHANGES = "NB_CHANGES"


def changes_sheet(c: Consolidation, heading: str):
    from nianbao.workbooks.master_layout import FORMATS, Column, Info, Row, SheetData, stamp

    ch: Changes = c.changes if c.changes is not None else Changes(None)
    columns = (
        Column("kind", "类别", 10),
        Column("township_code", "乡镇代码", 12, "code"),
        Column("township_name", "乡镇名称", 10),
        Column("code", "指标代码", 8, "code"),
        Column("label", "指标名称", 24),
        Column("old", "原数值", 14),
        Column("new", "新数值", 14),
        Column("detail", "说明（来源文件）", 60),
    )
    rows: list[Row] = []
    for r in ch.returns:
        rows.append(Row((r.kind, r.township_code, r.township_name, None, None, None, None, neutral(r.detail)), "flag" if r.kind == "退回" else "body"))
    for r in ch.late:
        rows.append(Row(("新增逾期", r.township_code, r.township_name, None, None, None, None, neutral(r.detail)), "flag"))
    for f in ch.figures:
        ind = BY_CODE[f.code]
        fmt = FORMATS[ind.kind]
        detail = f"数字来自文件{f.source}" if f.source else "各乡镇数字之和"
        rows.append(Row(
            ("全县合计变动" if not f.township_code else "乡镇数字变动", f.township_code or None, f.township_name, f.code, ind.label,
             f.old, f.new, neutral(detail)),
            "total" if not f.township_code else "body",
            (None, None, None, None, None, fmt, fmt, None),
        ))
    if not rows:
        rows.append(Row(("无变动" if not ch.first else "首次发布", None, None, None, None, None, None, ch.line())))
    return SheetData(
        title="变动情况",
        heading=f"{c.county_name}工会年报变动情况（{heading}）：与上次发布相比",
        stamp=stamp(c.as_of),
        info=(
            Info("上次发布", ch.previous_at, FORMATS["datetime"]) if ch.previous_at else Info("上次发布", "无（首次发布）"),
            Info("变动概况", ch.line()),
        ),
        columns=columns,
        rows=tuple(rows),
        data_name=NB_CHANGES,
        freeze_columns=3,
    )


def figure_text(f: FigureChange) -> str:
    ind = BY_CODE[f.code]
    return f"{f.township_name}【{ind.label}】{fmt_value(f.old, ind.unit)} → {fmt_value(f.new, ind.unit)}"


__all__ = ["Changes", "FigureChange", "LateChange", "ReturnChange", "changes_sheet", "compare", "figure_text", "snapshot"]
