"""Lineage: every figure on 分乡镇 traced to the file, sheet and cell it was read from.

The store keeps, per submission and indicator, the sheet and cell the reader's ``CellMap``
located (``summary_cells``); the consolidation joins them with the current returns and the
files' names, received times and SHA-256 into :data:`SOURCE_COLUMNS` (``Consolidation.sources``):
a row per township, its file, and for each indicator the sheet and cell (:func:`sheet_column`,
:func:`cell_column`).
A county total is the sum of its townships' figures, so tracing it lists each township with
its cell; a rate is traced through its numerator and denominator, both recomputed from sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nianbao.schemas.indicators import BY_CODE, INDICATOR_CODES, INDICATORS, MONEY_UNIT, RATES, Rate
from nianbao.schemas.models import Period

if TYPE_CHECKING:
    from nianbao.consolidate import Consolidation, Inputs

TOWN_SOURCE_COLUMNS: tuple[str, ...] = ("township_code", "township_name", "file_name", "received_at", "sha256")


def sheet_column(code: str) -> str:
    """The column of ``Consolidation.sources`` naming the sheet indicator ``code`` was read from."""
    return f"sheet.{code}"


def cell_column(code: str) -> str:
    """The column of ``Consolidation.sources`` naming the cell indicator ``code`` was read from."""
    return f"cell.{code}"


SOURCE_COLUMNS: tuple[str, ...] = (
    *TOWN_SOURCE_COLUMNS, *(sheet_column(c) for c in INDICATOR_CODES), *(cell_column(c) for c in INDICATOR_CODES),
)
SHORT_SHA = 12  # characters of the SHA-256 shown: enough to tell files apart, short enough to read
UNRECORDED = "（未记录）"  # a file stored before cells were recorded


def short_sha(sha256: object) -> str:
    return str(sha256)[:SHORT_SHA] if isinstance(sha256, str) and sha256 else ""


def neutral(text: object) -> str | None:
    """Text read from a file, safe to put in a cell: never taken as a formula by Excel or WPS."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def build_sources(inputs: Inputs, values: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """SOURCE_COLUMNS for ``values`` (township code index × indicator columns, as consolidated):
    a row per township in ``values`` order, its current file, and per indicator the sheet and cell.

    Wide, not a row per township and indicator: at 10 000 townships that long frame held
    650 000 rows of objects, a third of a gigabyte in the run's main process until the master
    workbook was written. The sheet and cell columns are categorical: a template puts an
    indicator in the same cell of every return, so each column holds a handful of strings and
    a byte per township.
    """
    from nianbao.consolidate import to_local_naive

    if values.empty:
        return pd.DataFrame(columns=list(SOURCE_COLUMNS))
    codes = values.index
    meta = inputs.current.drop_duplicates("township_code", keep="last").set_index("township_code").reindex(codes)
    shas = inputs.submissions.drop_duplicates("submission_id").set_index("submission_id")["sha256"]
    out: dict[str, Any] = {
        "township_code": codes.to_numpy(dtype=object),
        "township_name": codes.map(names).to_numpy(dtype=object),
        "file_name": meta["file_name"].to_numpy(dtype=object),
        "received_at": to_local_naive(meta["received_at"]).to_numpy(),
        "sha256": meta["submission_id"].map(shas).map(short_sha).to_numpy(dtype=object),
    }
    # Each recorded cell placed at (its submission's township, its indicator); None where none.
    row_of = {sid: i for i, sid in enumerate(meta["submission_id"])}
    column_of = {code: j for j, code in enumerate(INDICATOR_CODES)}
    cells = inputs.cells
    rows = cells["submission_id"].map(row_of)
    columns = cells["indicator"].map(column_of)
    placed = (rows.notna() & columns.notna()).to_numpy()
    at = (rows.to_numpy()[placed].astype(np.int64), columns.to_numpy()[placed].astype(np.int64))
    for field, name in ((cells["sheet"], sheet_column), (cells["cell"], cell_column)):
        grid = np.full((len(codes), len(INDICATOR_CODES)), None, dtype=object)
        grid[at] = field.to_numpy(dtype=object)[placed]
        out.update({name(code): pd.Categorical(grid[:, j]) for j, code in enumerate(INDICATOR_CODES)})
    return pd.DataFrame(out, columns=list(SOURCE_COLUMNS))


def cell_text(sheet: object, cell: object) -> str:
    """Where a value was read, as 数据来源 shows it (text from a file made literal): 「主要指标」D10."""
    return _cell_ref(neutral(sheet), neutral(cell))


def _cell_ref(sheet: str | None, cell: str | None) -> str:
    return f"「{sheet}」{cell}" if sheet and cell else UNRECORDED


# --- tracing one figure ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contribution:
    township_code: str
    township_name: str
    value: float | int | None
    file_name: str
    received_at: object
    sha256: str
    sheet: str | None
    cell: str | None


@dataclass(frozen=True)
class Trace:
    code: str
    label: str
    unit: str
    total: float | int | None
    parts: tuple[Contribution, ...]


def resolve(code_or_label: str) -> str | None:
    """An indicator or rate code from its code (any case) or its exact label; None if unknown."""
    text = code_or_label.strip()
    for item in (*INDICATORS, *RATES):
        if text.upper() == item.code or text == item.label:
            return item.code
    return None


def trace_indicator(c: Consolidation, code: str) -> Trace:
    ind = BY_CODE[code]
    src = c.sources
    values = dict(zip(c.by_township["township_code"], c.by_township[code])) if len(c.by_township) else {}
    parts = tuple(
        Contribution(
            str(town), str(name), _plain_number(values.get(town)), str(file_name), received_at, str(sha or ""),
            None if pd.isna(sheet) else str(sheet), None if pd.isna(cell) else str(cell),
        )
        for town, name, file_name, received_at, sha, sheet, cell in zip(
            src["township_code"], src["township_name"], src["file_name"], src["received_at"], src["sha256"],
            src[sheet_column(code)].to_numpy(dtype=object), src[cell_column(code)].to_numpy(dtype=object),
        )
    )
    return Trace(code, ind.label, ind.unit, _plain_number(c.totals.get(code)), parts)


def _plain_number(value: object) -> float | int | None:
    if value is None or pd.isna(value):
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def fmt_value(value: float | int | None, unit: str) -> str:
    if value is None:
        return "（空）"
    if unit == MONEY_UNIT:
        return f"{value:,.2f} {unit}"
    return f"{int(value):,} {unit}"


def _where(p: Contribution) -> str:
    cell = _cell_ref(p.sheet, p.cell)
    received = pd.Timestamp(p.received_at).strftime("%Y-%m-%d %H:%M") if p.received_at is not None and not pd.isna(p.received_at) else ""
    return f"文件「{p.file_name}」（接收 {received}，指纹 {p.sha256}）{cell}"


def trace_lines(c: Consolidation, code: str) -> list[str]:
    """The Chinese lines ``nianbao trace`` prints for an indicator or a rate."""
    head = f"{c.county_name}{Period(str(c.period)).label}"
    rate = next((r for r in RATES if r.code == code), None)
    if rate is not None:
        return _rate_lines(c, rate, head)
    t = trace_indicator(c, code)
    lines = [f"{head}【{t.label}】（{t.code}）全县合计 {fmt_value(t.total, t.unit)}，为 {len(t.parts)} 个乡镇之和："]
    width = max((len(p.township_name) for p in t.parts), default=0)
    for p in t.parts:
        lines.append(f"  {p.township_name:<{width}}（{p.township_code}） {fmt_value(p.value, t.unit):>14}  ← {_where(p)}")
    check = sum(p.value or 0 for p in t.parts)
    same = t.total is not None and abs(check - t.total) < 0.005
    lines.append(f"  合计 {fmt_value(t.total, t.unit)}" + ("（与各乡镇之和一致）" if same else f"（各乡镇之和为 {fmt_value(check, t.unit)}，不一致）"))
    return lines


def _rate_lines(c: Consolidation, rate: Rate, head: str) -> list[str]:
    num, den = BY_CODE[rate.numerator], BY_CODE[rate.denominator]
    value = c.rates.get(rate.code)
    shown = "—（分母为 0）" if value is None or pd.isna(value) else f"{value:.1%}"
    lines = [
        f"{head}【{rate.label}】（{rate.code}）= 【{num.label}】合计 ÷ 【{den.label}】合计"
        f" = {fmt_value(_plain_number(c.totals.get(num.code)), num.unit)} ÷ {fmt_value(_plain_number(c.totals.get(den.code)), den.unit)}"
        f" = {shown}（由全县合计数计算，不是各乡镇比率的平均）",
        "",
        "分子：",
        *trace_lines(c, num.code),
        "",
        "分母：",
        *trace_lines(c, den.code),
    ]
    return lines


# --- the 数据来源 sheet ------------------------------------------------------------------------

NB_SOURCES = "NB_SOURCES"


def sources_sheet(c: Consolidation, heading: str):
    """数据来源: a row per township, as in 分乡镇: its file, received time and fingerprint, and
    for each indicator the sheet and cell its value was read from.

    One row per township, not per township and indicator: the file's facts were repeated on each
    of 65 rows, and at 10 000 townships that listing (6.5 million cells) was most of the master
    workbook's size and of the time to write it. Looking a figure up is the same: the township's
    row, the indicator's column (``nianbao trace`` lists it too, with the values).
    """
    from nianbao.workbooks.master_layout import FORMATS, Column, Info, LazyRows, Row, SheetData, plain, stamp

    src = c.sources
    codes = INDICATOR_CODES
    columns = (
        Column("township_code", "乡镇代码", 12, "code"),
        Column("township_name", "乡镇名称", 10),
        Column("file_name", "来源文件", 30),
        Column("received_at", "接收时间", 17, "datetime"),
        Column("sha256", "文件指纹（SHA-256 前12位）", 16, "code"),
        *(Column(cell_column(code), f"{code} {BY_CODE[code].label}（单元格）", 15, "code") for code in codes),  # 「主要指标」D10 in full
    )
    # Made row by row when written (LazyRows); the frame's columns are read once, not per row,
    # and each indicator's text is made once per distinct cell (a categorical's categories).
    towns = src.drop_duplicates("township_code")
    where = [_cell_texts(towns[sheet_column(code)], towns[cell_column(code)]) for code in codes]
    facts = {name: towns[name].to_numpy() for name in ("township_code", "township_name", "file_name", "sha256")}
    received = towns["received_at"].array

    def row(i: int) -> Row:
        return Row((
            str(facts["township_code"][i]), neutral(facts["township_name"][i]), neutral(facts["file_name"][i]),
            plain(received[i]), str(facts["sha256"][i] or "") or None, *(column[i] for column in where),
        ))

    return SheetData(
        title="数据来源",
        heading=f"{c.county_name}工会年报数据来源（{heading}）：分乡镇每个数字来自哪个文件的哪个单元格",
        stamp=stamp(c.as_of),
        info=(
            Info("已汇总乡镇数", len(towns), FORMATS["number"]),
            Info("说明", "每行一个乡镇，与「分乡镇」同序；各指标列为该数字所在的工作表和单元格。"
                 "全县合计 = 各乡镇数值之和；比率由合计数计算。命令行：nianbao trace 指标代码"),
        ),
        columns=columns,
        rows=LazyRows(len(towns), row),
        data_name=NB_SOURCES,
        key="township_code",
        freeze_columns=2,
        header_height=45,
    )


def _cell_texts(sheets: pd.Series, cells: pd.Series) -> list[str]:
    """:func:`cell_text` of each township's sheet and cell, made once per distinct pair."""
    made: dict[tuple[object, object], str] = {}
    out = []
    for pair in zip(sheets.to_numpy(dtype=object), cells.to_numpy(dtype=object)):
        text = made.get(pair)
        if text is None:
            text = made[pair] = cell_text(*pair)
        out.append(text)
    return out
