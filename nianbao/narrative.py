"""The county's statistics paragraph (统计综述), written from the consolidation.

County staff restate the year's figures in prose in their 工作总结 ("全镇新建基层工会63家，
比上年增长x%……"). This module writes that prose section by section (the catalogue's
SECTIONS: 组织建设, 集体协商, 维权服务, 帮扶救助, 安全与竞赛, 工会经费), every figure a county total
of the consolidation, each headline figure with its year-on-year phrasing (增加/减少/持平,
增长/下降 x.x%, on the like-for-like basis of the 同比 sheet), rates recomputed from the sums
(提高/降低 x.x 个百分点), and opens with completeness (报送率/及时率).

The structure comes from the catalogue: an indicator that is no part of another one opens a
clause, its parts (``part_of``, transitively) follow as 其中…, and a rate follows the clause
that holds its numerator. Numbers are written without thousands separators, as in official
prose, so a reader (and the test) can take them back out of the text.

Outputs: :func:`paragraphs` (plain text by section), the 统计综述 sheet, and a Word file
(python-docx) for ``nianbao summary-text -o 综述.docx``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from nianbao.schemas.indicators import BY_CODE, MONEY_UNIT, RATES, SECTIONS, Indicator, Rate, indicators_in
from nianbao.schemas.models import Period

if TYPE_CHECKING:
    from nianbao.consolidate import Consolidation

ORDINALS = "一二三四五六七八九十"
PART_PREFIX = "其中："


@dataclass(frozen=True)
class Section:
    heading: str  # 一、组织建设
    text: str


def phrase_label(ind: Indicator) -> str:
    """The label as it reads in prose: 其中：女职工 -> 女职工 (the clause says 其中 itself)."""
    return ind.label.removeprefix(PART_PREFIX)


def number(value: float | int | None, unit: str) -> str:
    """A figure as written in the text: counts whole, 万元 with two decimals, no separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):.2f}" if unit == MONEY_UNIT else f"{int(round(float(value)))}"


def _finite(value: object) -> float | None:
    if value is None:
        return None
    try:
        number_ = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number_) else number_


def yoy_phrase(change: object, share: object, previous: object, unit: str) -> str:
    """比上年增加12家，增长3.4% / 比上年减少5人，下降1.2% / 与上年持平; "" without a basis."""
    change, share, previous = _finite(change), _finite(share), _finite(previous)
    if change is None or previous is None:
        return ""
    if abs(change) < (0.005 if unit == MONEY_UNIT else 0.5):
        return "与上年持平"
    verb, pct_verb = ("增加", "增长") if change > 0 else ("减少", "下降")
    text = f"比上年{verb}{number(abs(change), unit)}{unit}"
    if share is not None and previous != 0:
        text += f"，{pct_verb}{abs(share) * 100:.1f}%"
    return text


def rate_phrase(change: object) -> str:
    """比上年提高1.2个百分点 / 降低 / 与上年持平; "" without a basis."""
    change = _finite(change)
    if change is None:
        return ""
    points = round(change * 100, 1)
    if points == 0:
        return "与上年持平"
    return f"比上年{'提高' if points > 0 else '降低'}{abs(points):.1f}个百分点"


def _root(ind: Indicator) -> Indicator:
    while ind.part_of:
        ind = BY_CODE[ind.part_of]
    return ind


def _groups(section: str) -> list[tuple[Indicator, list[Indicator]]]:
    """(headline indicator, its parts) in catalogue order."""
    groups: dict[str, tuple[Indicator, list[Indicator]]] = {}
    for ind in indicators_in(section):
        root = _root(ind)
        if root is ind:
            groups[ind.code] = (ind, [])
        else:
            groups[root.code][1].append(ind)
    return list(groups.values())


class _Figures:
    """County totals, rates and the like-for-like year-on-year table of one consolidation."""

    def __init__(self, c: Consolidation):
        self.c = c
        self.yoy = c.yoy.set_index("code") if len(c.yoy) else pd.DataFrame()

    def value(self, code: str) -> float | None:
        return _finite(self.c.totals.get(code))

    def rate(self, code: str) -> float | None:
        return _finite(self.c.rates.get(code))

    def yoy_of(self, code: str) -> tuple[object, object, object]:
        if code not in self.yoy.index:
            return None, None, None
        row = self.yoy.loc[code]
        return row["change"], row["share"], row["previous"]


def _indicator_clause(f: _Figures, ind: Indicator, with_yoy: bool) -> str:
    text = f"{phrase_label(ind)}{number(f.value(ind.code), ind.unit)}{ind.unit}"
    if with_yoy:
        change, share, previous = f.yoy_of(ind.code)
        phrase = yoy_phrase(change, share, previous, ind.unit)
        if phrase:
            text += f"（{phrase}）"
    return text


def _rate_clause(f: _Figures, rate: Rate) -> str:
    value = f.rate(rate.code)
    if value is None:
        return f"{rate.label}无法计算（{BY_CODE[rate.denominator].label}为0）"
    text = f"{rate.label}{value * 100:.1f}%"
    change, _, _ = f.yoy_of(rate.code)
    phrase = rate_phrase(change)
    return text + (f"（{phrase}）" if phrase else "")


def _section_text(f: _Figures, section_code: str, label: str) -> str:
    clauses = []
    for head, parts in _groups(section_code):
        clause = _indicator_clause(f, head, with_yoy=True)
        if parts:
            clause += "，其中" + "、".join(_indicator_clause(f, p, with_yoy=False) for p in parts)
        members = {head.code, *(p.code for p in parts)}
        rates = [r for r in RATES if r.numerator in members]
        if rates:
            clause += "，" + "，".join(_rate_clause(f, r) for r in rates)
        clauses.append(clause)
    return f"{label}方面，" + "；".join(clauses) + "。"


def _completeness(c: Consolidation) -> str:
    counts = c.status_counts
    expected = len(c.status)
    valid = counts.get("已报", 0) + counts.get("逾期", 0)
    due = f"（截止日期{c.due.year}年{c.due.month}月{c.due.day}日）" if c.due else ""
    text = (
        f"{c.county_name}{Period(str(c.period)).label}工会工作统计年报应报乡镇{expected}个，"
        f"已报送有效报表{valid}个，其中按时报送{counts.get('已报', 0)}个、逾期报送{counts.get('逾期', 0)}个{due}；"
        f"退回{counts.get('退回', 0)}个，未报{counts.get('未报', 0)}个。"
        f"报送率{_pct(c.completeness)}，及时率{_pct(c.timeliness)}。"
        f"以下为{valid}个乡镇报表的汇总数，比率由全县合计数计算"
    )
    if c.yoy_townships:
        text += f"；同比按两年均已报送的{c.yoy_townships}个乡镇同口径计算"
    return text + "。"


def _pct(value: object) -> str:
    value = _finite(value)
    return "—" if value is None else f"{value * 100:.1f}%"


def paragraphs(c: Consolidation) -> list[Section]:
    """The statistics paragraph: 报送情况, then one section per catalogue section."""
    f = _Figures(c)
    out = [Section("报送情况", _completeness(c))]
    for i, section in enumerate(SECTIONS):
        out.append(Section(f"{ORDINALS[i]}、{section.label}", _section_text(f, section.code, section.label)))
    return out


def title(c: Consolidation) -> str:
    return f"{c.county_name}{Period(str(c.period)).label}工会工作主要统计数据综述"


def plain_text(c: Consolidation) -> str:
    parts = [title(c), ""]
    for s in paragraphs(c):
        parts += [s.heading, s.text, ""]
    return "\n".join(parts).rstrip() + "\n"


def write_docx(c: Consolidation, path: Path | str) -> Path:
    """The paragraph as a Word file: a title, a heading and a paragraph per section."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    path = Path(path)
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.size = Pt(12)
    normal.font.name = "宋体"
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")  # the face Word uses for CJK text
    doc.add_heading(title(c), level=1)
    doc.add_paragraph(f"数据截至 {c.as_of:%Y-%m-%d %H:%M}")
    for s in paragraphs(c):
        doc.add_heading(s.heading, level=2)
        doc.add_paragraph(s.text).paragraph_format.first_line_indent = Pt(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path)
    return path


# --- the 统计综述 sheet --------------------------------------------------------------------------

NB_NARRATIVE = "NB_NARRATIVE"


def narrative_sheet(c: Consolidation, heading: str):
    from nianbao.workbooks.master_layout import Column, Info, Row, SheetData, stamp

    rows: list[Row] = []
    for s in paragraphs(c):
        rows.append(Row((s.heading,), "section"))
        rows.append(Row((s.text,), "para"))
    return SheetData(
        title="统计综述",
        heading=title(c),
        stamp=stamp(c.as_of),
        info=(Info("说明", "由汇总数自动生成，可复制到工作总结中；每个数字均来自「汇总」「同比」表"),),
        columns=(Column("text", "内容", 120),),
        rows=tuple(rows),
        data_name=NB_NARRATIVE,
    )
