"""分组汇总: roster totals by group, and the hardship ledger reduced to counts and amounts.

Besides the sum over reporting units (叠加汇总), a statistician wants the roster's figures by
单位类型 and by reporting unit (乡镇 at a county, 县 at a city). Both are sums of per-return
totals, so each return's totals are computed once when it is stored (:func:`detail_totals`,
long format: dimension, group, measure, value) and consolidation only adds up the current
returns' rows (:func:`group_table`).

The measures are derived from the roster's model: every count and money column is summed and
every 是/否 column counts its 是; nothing is listed by hand. The ledger's rows become counts
and amounts by 困难类型 and 帮扶方式 (dimension ``aid``): what a county reports upward instead
of names and ID numbers (``nianbao.report_up``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, get_args

from nianbao.schemas.indicators import MONEY_UNIT
from nianbao.schemas.models import AidRow, RosterRow, TownshipReturn, UnitType, field_specs

if TYPE_CHECKING:  # pandas only for group_table: the worker processes that read returns never need it
    import pandas as pd

UNIT_TYPES: tuple[str, ...] = get_args(UnitType)
DIM_UNIT_TYPE = "unit_type"  # group: 单位类型 (blank: 未填)
DIM_ALL = "all"  # group "": the whole roster of one return (grouped by reporting unit later)
DIM_AID = "aid"  # group "困难类型|帮扶方式"; measures "cases" and "amount" (元)
NOT_GIVEN = "未填"
GROUP_COLUMNS: tuple[str, ...] = ("township_code", "dimension", "grp", "measure", "value")


@dataclass(frozen=True)
class Measure:
    key: str  # roster field, or "units"
    label: str
    kind: str  # count | money
    yes_no: bool = False  # counts the rows whose field is 是


def _measures() -> tuple[Measure, ...]:
    out = [Measure("units", "单位数（个）", "count")]
    for spec in field_specs(RosterRow):
        if spec.name == "union_year":
            continue  # a year, not a quantity
        if spec.kind == "count":
            out.append(Measure(spec.name, f"{spec.label}（{spec.unit}）" if spec.unit else spec.label, "count"))
        elif spec.kind == "money":
            out.append(Measure(spec.name, f"{spec.label}（{MONEY_UNIT}）", "money"))
        elif spec.kind == "yesno":
            label = spec.label.removeprefix("是否")
            out.append(Measure(spec.name, f"{label}单位数（个）", "count", yes_no=True))
    return tuple(out)


MEASURES: tuple[Measure, ...] = _measures()


def _row_values(row: RosterRow) -> dict[str, Decimal]:
    values: dict[str, Decimal] = {"units": Decimal(1)}
    for m in MEASURES[1:]:
        v = getattr(row, m.key)
        values[m.key] = Decimal(1 if v else 0) if m.yes_no else Decimal(v or 0)
    return values


def aid_rows(ret: TownshipReturn) -> list[dict]:
    """The ledger (and any 帮扶汇总 rows) as 帮扶汇总 rows: counts and amounts (元) by type and method.

    Rows in the order of the model's choices; a blank type or method counts as 其他.
    """
    totals: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal(0)])
    for r in ret.ledger:
        key = (r.hardship_type or "其他", r.aid_method or "其他")
        totals[key][0] += 1
        totals[key][1] += r.amount or Decimal(0)
    for r in ret.aid:
        key = (r.hardship_type or "其他", r.aid_method or "其他")
        totals[key][0] += r.cases or 0
        totals[key][1] += r.amount or Decimal(0)
    types = {s.name: s.choices for s in field_specs(AidRow)}
    order = {(t, m): i for i, (t, m) in enumerate((t, m) for t in types["hardship_type"] for m in types["aid_method"])}
    return [
        {"hardship_type": t, "aid_method": m, "cases": n, "amount": amount}
        for (t, m), (n, amount) in sorted(totals.items(), key=lambda kv: order.get(kv[0], len(order)))
    ]


def detail_totals(ret: TownshipReturn) -> list[dict]:
    """One return's roster totals by 单位类型 and overall, and its aid by type and method.

    Long rows ``{"dimension", "grp", "measure", "value"}`` (value a Decimal); nothing personal.
    """
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for row in ret.roster:
        values = _row_values(row)
        for group in ((DIM_UNIT_TYPE, row.unit_type or NOT_GIVEN), (DIM_ALL, "")):
            for key, value in values.items():
                sums[(*group, key)] += value
    for a in aid_rows(ret):
        grp = f"{a['hardship_type']}|{a['aid_method']}"
        sums[(DIM_AID, grp, "cases")] += a["cases"]
        sums[(DIM_AID, grp, "amount")] += a["amount"]
    return [{"dimension": d, "grp": g, "measure": m, "value": v} for (d, g, m), v in sums.items()]


def group_table(totals: pd.DataFrame, names: Mapping[str, str], unit_codes: Iterable[str]) -> pd.DataFrame:
    """分组汇总 of the current returns: rows by 单位类型, then by reporting unit.

    ``totals`` has GROUP_COLUMNS (the current returns' :func:`detail_totals`); ``unit_codes``
    are the reporting units in config order. Columns: ``dimension`` (unit_type | unit),
    ``group`` (label), one per measure key. Every unit type and every reporting unit with a
    current return gets a row, zeros included, so the blocks always add up to the same total.
    """
    import pandas as pd

    keys = [m.key for m in MEASURES]
    t = totals[totals["dimension"].isin((DIM_UNIT_TYPE, DIM_ALL))].copy() if len(totals) else pd.DataFrame(columns=list(GROUP_COLUMNS))
    t["value"] = pd.to_numeric(t["value"], errors="coerce").astype("float64")

    def block(frame: pd.DataFrame, by: str, order: list[str], labels: Mapping[str, str], dimension: str) -> pd.DataFrame:
        wide = frame.pivot_table(index=by, columns="measure", values="value", aggfunc="sum").reindex(index=order, columns=keys)
        wide = wide.fillna(0.0)
        wide.insert(0, "group", [labels.get(k, k) for k in wide.index])
        wide.insert(0, "dimension", dimension)
        return wide.reset_index(drop=True)

    by_type = t[t["dimension"] == DIM_UNIT_TYPE]
    types = list(UNIT_TYPES) + ([NOT_GIVEN] if (by_type["grp"] == NOT_GIVEN).any() else [])
    by_unit = t[t["dimension"] == DIM_ALL]
    present = set(by_unit["township_code"])
    units = [c for c in unit_codes if c in present]
    out = pd.concat(
        [
            block(by_type, "grp", types, {}, "unit_type"),
            block(by_unit, "township_code", units, dict(names), "unit"),
        ],
        ignore_index=True,
    )
    money = [m.key for m in MEASURES if m.kind == "money"]
    counts = [m.key for m in MEASURES if m.kind == "count"]
    out[money] = out[money].round(2)
    out[counts] = out[counts].round().astype("int64")
    return out
