"""The master workbook's 分组汇总 sheet: roster totals by 单位类型 and by reporting unit.

Built from ``Consolidation.groups`` (``nianbao.grouping.group_table``) as a
:class:`~nianbao.workbooks.master_layout.SheetData`, so both master writers render it. Each
block ends in a 合计 row; both 合计 rows are the same roster total, which a statistician
checks against 汇总 (已建会单位数, 职工人数, 会员人数 come from the same roster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nianbao.grouping import MEASURES
from nianbao.schemas.levels import level_info
from nianbao.schemas.models import Period

if TYPE_CHECKING:
    from nianbao.consolidate import Consolidation
    from nianbao.workbooks.master_layout import SheetData

SHEET_GROUPS = "分组汇总"
NB_GROUPS = "NB_GROUPS"


def group_sheet(c: "Consolidation") -> "SheetData | None":
    """The 分组汇总 sheet, or None when the consolidation carries no group totals."""
    from nianbao.workbooks.master_layout import FORMATS, Column, Info, Row, SheetData, _number, plain, stamp

    groups = getattr(c, "groups", None)
    if groups is None:
        return None
    info = level_info(getattr(c, "level", "县"))
    columns = (Column("group", "分组", 16), *(Column(m.key, m.label, 12, m.kind) for m in MEASURES))
    rows: list[Row] = []
    for dimension, heading in (("unit_type", "按单位类型"), ("unit", f"按{info.child}")):
        block = groups[groups["dimension"] == dimension]
        rows.append(Row((heading, *([None] * len(MEASURES))), "section"))
        for rec in block.to_dict("records"):
            rows.append(Row((plain(rec["group"]), *(_number(rec[m.key], m.kind) for m in MEASURES))))
        totals = block[[m.key for m in MEASURES]].sum()
        rows.append(Row(("合计", *(_number(totals[m.key], m.kind) for m in MEASURES)), "total"))
    return SheetData(
        title=SHEET_GROUPS,
        heading=f"{c.county_name}基层工会名册分组汇总（{Period(str(c.period)).label}）",
        stamp=stamp(c.as_of),
        info=(Info(f"已汇总{info.child}数", int((groups["dimension"] == "unit").sum()), FORMATS["number"]),),
        columns=columns,
        rows=tuple(rows),
        data_name=NB_GROUPS,
        freeze_columns=1,
        header_height=45,
    )
