"""Outliers across townships on comparable ratios, and the 情况说明 that explain findings.

Totals of townships of different sizes cannot be compared, ratios can: 入会率, 每人次帮扶资金,
每个基层工会会员数 … (``COMPARABLE`` in the catalogue). For each ratio the townships' values
are compared with a robust measure that one wrong figure cannot drag along: the median and the
median absolute deviation (MAD), giving the modified z-score of Iglewicz and Hoaglin,
``0.6745 × (x − median) / MAD``. A township beyond the county's ``outlier_threshold`` (default
3.5, their recommendation) gets a warning saying, in Chinese, what was compared with what.
When half the townships or more share one value (MAD = 0), the mean absolute deviation
scaled by 1.2533 stands in, as they propose; with fewer than ``MIN_TOWNSHIPS`` values there is
no "others" to compare with and nothing is flagged.

A warning on an indicator the township explained in its 情况说明 is marked as explained
(``Finding.note``): an outlier by the note beside its numerator or denominator, a county
year-on-year change by the notes townships wrote beside that indicator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from nianbao.schemas.findings import Finding, warning
from nianbao.schemas.indicators import BY_CODE, COMPARABLE, Ratio
from nianbao.schemas.privacy import mask_id

MIN_TOWNSHIPS = 5
MAD_SCALE = 0.6745  # makes the MAD of normal data comparable with its standard deviation
MEAN_AD_SCALE = 1.253314  # the mean absolute deviation's factor when the MAD is 0
EXPLAINABLE = ("hist.yoy", "county.outlier")  # warnings a 情况说明 answers
EXPLAINED, OPEN = "已说明", "待说明"
_ID_LIKE = re.compile(r"\d{17}[\dXx]")


def clean_note(text: object) -> str | None:
    """A 情况说明 as typed, with anything shaped like an ID number masked; None when blank."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    text = str(text).strip()
    return _ID_LIKE.sub(lambda m: mask_id(m.group(0)), text) or None


def notes_by_township(cells: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(township code, indicator code) -> its 情况说明, for the current returns."""
    out = {}
    for rec in cells.to_dict("records"):
        note = clean_note(rec.get("note"))
        if note:
            out[(str(rec["township_code"]), str(rec["indicator"]))] = note
    return out


def robust_z(values: pd.Series) -> pd.Series:
    """Modified z-scores (NaN for all when there is too little to compare with)."""
    x = values.dropna().astype("float64")
    if len(x) < MIN_TOWNSHIPS:
        return pd.Series(np.nan, index=values.index)
    median = float(x.median())
    mad = float((x - median).abs().median())
    if mad > 0:
        z = MAD_SCALE * (values.astype("float64") - median) / mad
    else:
        mean_ad = float((x - median).abs().mean())
        if mean_ad == 0:
            return pd.Series(0.0, index=values.index)
        z = (values.astype("float64") - median) / (MEAN_AD_SCALE * mean_ad)
    return z


def ratio_values(values: pd.DataFrame, ratio: Ratio) -> pd.Series:
    num = values[ratio.numerator].astype("float64")
    den = values[ratio.denominator].astype("float64")
    return num / den.where(den > 0) * ratio.scale


def _shown(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:,.2f}{unit}" if abs(value) < 100 else f"{value:,.0f}{unit}"


def _operand(code: str, value: object) -> str:
    ind = BY_CODE[code]
    number = float(value)
    text = f"{number:,.2f}" if ind.is_money else f"{int(number):,}"
    return f"【{ind.label}】{text}{ind.unit}"


def find_outliers(
    values: pd.DataFrame, names: Mapping[str, str], threshold: float, notes: Mapping[tuple[str, str], str]
) -> list[tuple[str, Finding]]:
    """(township code, warning) for every township far from the others on a comparable ratio.

    ``values``: indicator values indexed by township code (as consolidated).
    """
    out: list[tuple[str, Finding]] = []
    for ratio in COMPARABLE:
        x = ratio_values(values, ratio)
        z = robust_z(x)
        flagged = z[z.abs() > threshold].dropna()
        if flagged.empty:
            continue
        valid = x.dropna()
        median, q1, q3 = valid.median(), valid.quantile(0.25), valid.quantile(0.75)
        for code, score in flagged.items():
            value = x[code]
            side = "偏高" if score > 0 else "偏低"
            num, den = BY_CODE[ratio.numerator], BY_CODE[ratio.denominator]
            note = " ".join(n for n in (notes.get((code, num.code)), notes.get((code, den.code))) if n) or None
            out.append((
                str(code),
                warning(
                    "county.outlier",
                    f"{names.get(code, code)}的「{ratio.label}」为 {_shown(value, ratio.unit)}"
                    f"（{_operand(num.code, values.at[code, num.code])} ÷ {_operand(den.code, values.at[code, den.code])}），"
                    f"全县 {len(valid)} 个乡镇的中位数为 {_shown(median, ratio.unit)}，中间一半乡镇在 "
                    f"{_shown(q1, ratio.unit)}～{_shown(q3, ratio.unit)} 之间；该乡镇明显{side}"
                    f"（稳健 z 值 {score:+.1f}，提示阈值 ±{threshold:g}）。请核实【{num.label}】和【{den.label}】"
                    f"是否填错（单位、位数），如数据属实，请在「主要指标」该指标旁的“情况说明”中写明原因",
                    field=f"summary.{num.code}",
                    label=ratio.label,
                    value=_shown(value, ratio.unit),
                    expected=f"与全县中位数 {_shown(median, ratio.unit)} 相近（稳健 z 值不超过 ±{threshold:g}）",
                    note=note,
                ),
            ))
    return out


def explain_county_yoy(finding: Finding, notes: Mapping[tuple[str, str], str], names: Mapping[str, str]) -> Finding:
    """A county year-on-year warning, marked explained by the townships' notes on its indicator."""
    if finding.code != "hist.yoy" or not finding.field or not finding.field.startswith("summary."):
        return finding
    code = finding.field.split(".", 1)[1]
    said = [f"{names.get(t, t)}：{n}" for (t, c), n in notes.items() if c == code]
    return finding.model_copy(update={"note": "；".join(said)}) if said else finding
