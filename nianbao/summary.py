"""Short Chinese summaries of a run: for the terminal, the Prefect UI artifacts and the add-in."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from nianbao.consolidate import Consolidation, TownshipStatus
from nianbao.schemas.levels import level_info

if TYPE_CHECKING:
    from nianbao.pipeline import RunResult


def _pct(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def status_line(c: Consolidation) -> str:
    counts = c.status_counts
    parts = [f"{s.value} {counts.get(s.value, 0)}" for s in TownshipStatus]
    child = level_info(getattr(c, "level", "县")).child
    return f"应报 {len(c.status)} 个{child}：" + "，".join(parts) + f"；报送率 {_pct(c.completeness)}，及时率 {_pct(c.timeliness)}"


def explained_count(c: Consolidation) -> int:
    """Warnings a township answered in its 情况说明: they no longer count as open queries."""
    from nianbao.outliers import EXPLAINABLE

    f = c.findings
    return int((f["code"].isin(EXPLAINABLE) & (f["note"].fillna("") != "")).sum()) if "note" in f else 0


def changes_line(c: Consolidation) -> str:
    """What changed since the previous publish, in one line (the same on the console and in Prefect)."""
    from nianbao.changes import Changes

    return (c.changes if c.changes is not None else Changes(None)).line()


def findings_table(c: Consolidation) -> list[dict]:
    """Every finding as rows for a Prefect table artifact (messages are already masked)."""
    columns = ["township_name", "file_name", "severity", "code", "sheet", "cell", "message", "note"]
    return c.findings[columns].fillna("").astype(str).to_dict("records")


def summary_markdown(c: Consolidation, result: "RunResult") -> str:
    missing = c.status.loc[c.status["status"] == TownshipStatus.MISSING.value, "township_name"].tolist()
    sent_back = c.status.loc[c.status["status"] == TownshipStatus.SENT_BACK.value, "township_name"].tolist()
    lines = [
        f"# {c.county_name} {c.period} 工会年报汇总",
        "",
        f"- 数据截至：{c.as_of:%Y-%m-%d %H:%M}",
        f"- {status_line(c)}",
        f"- 变动：{changes_line(c)}",
        f"- 本次收到文件 {result.seen} 个，其中新文件 {result.new} 个（接收 {result.accepted}，退回 {result.rejected}）",
        f"- 未报：{'、'.join(missing) or '无'}",
        f"- 退回：{'、'.join(sent_back) or '无'}",
        f"- 审核问题 {len(c.findings)} 条（其中已说明 {explained_count(c)} 条，待处理 {len(c.findings) - explained_count(c)} 条）",
        f"- 汇总表：`{result.master}`",
    ]
    lines += [f"- {note}" for note in run_notes(result)]
    return "\n".join(lines)


def run_notes(result: "RunResult") -> list[str]:
    """What a run did beyond the usual: a locked master workbook written beside, and the
    审核意见 saved in the master workbook file that were stored or refused."""
    notes = []
    if result.master is not None and result.usual_master is not None and result.master.name != result.usual_master.name:
        notes.append(
            f"汇总工作簿「{result.usual_master.name}」正被打开（Excel 或 WPS），无法覆盖；本次结果写在旁边的「{result.master.name}」。"
            "关闭后，下一次运行会重新写入原文件名"
        )
    reviews = result.reviews
    if reviews is not None and reviews.outcome.stored:
        taken = "；".join(f"{d.township_name} {d.decision}" + (f"（{d.reason}）" if d.reason else "") for d in reviews.outcome.stored)
        notes.append(
            f"已保存汇总工作簿中填写的审核意见 {len(reviews.outcome.stored)} 条（填写人 {reviews.by}，保存于 {reviews.at:%Y-%m-%d %H:%M}），"
            f"并更新了回执：{taken}"
        )
    if reviews is not None and reviews.outcome.refused:
        notes.append(f"汇总工作簿中有 {len(reviews.outcome.refused)} 条审核意见未保存：" + "；".join(reviews.outcome.refused))
    return notes
