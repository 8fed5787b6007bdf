"""Lineage in its wide form (a row per township) says the same as the long form it replaced
(a row per township and indicator): 数据来源, ``nianbao trace`` and the outliers' cells."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from nianbao.consolidate import (
    CELL_COLUMNS, CURRENT_COLUMNS, FINDING_COLUMNS, SUBMISSION_COLUMNS, Inputs, _current_by_township,
    _township_findings, consolidate, empty_frame, to_local_naive,
)
from nianbao.lineage import (
    UNRECORDED, build_sources, cell_column, neutral, sheet_column, short_sha, sources_sheet, trace_indicator, trace_lines,
)
from nianbao.schemas.county import CountyConfig, PeriodConfig, Township
from nianbao.schemas.findings import warning
from nianbao.schemas.indicators import INDICATOR_CODES, INDICATORS
from nianbao.workbooks.master_layout import plain

PERIOD = "2025"
AS_OF = datetime(2026, 2, 1, 2, 0, tzinfo=timezone.utc)
OLD_COLUMNS = ("township_code", "township_name", "indicator", "value", "file_name", "received_at", "sha256", "sheet", "cell", "note")


def old_build_sources(inputs: Inputs, values: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The long form as it was built before (a row per township and indicator), the reference."""
    if values.empty:
        return pd.DataFrame(columns=list(OLD_COLUMNS))
    long = values.rename_axis("township_code").reset_index().melt(id_vars="township_code", var_name="indicator", value_name="value")
    meta = inputs.current.drop_duplicates("township_code", keep="last")[["township_code", "submission_id", "file_name", "received_at"]]
    shas = inputs.submissions[["submission_id", "sha256"]].drop_duplicates("submission_id")
    meta = meta.merge(shas, on="submission_id", how="left")
    meta["received_at"] = to_local_naive(meta["received_at"])
    out = long.merge(meta, on="township_code", how="left")
    out = out.merge(inputs.cells[["submission_id", "indicator", "sheet", "cell", "note"]], on=["submission_id", "indicator"], how="left")
    out["township_name"] = out["township_code"].map(names)
    out["sha256"] = out["sha256"].map(short_sha)
    order = {code: i for i, code in enumerate(values.index)}
    ind_order = {ind.code: i for i, ind in enumerate(INDICATORS)}
    out = out.assign(_t=out["township_code"].map(order), _i=out["indicator"].map(ind_order)).sort_values(["_t", "_i"], kind="stable")
    return out[list(OLD_COLUMNS)].reset_index(drop=True)


def old_sheet_rows(src: pd.DataFrame) -> list[tuple]:
    """数据来源's rows as they were made from the long form."""
    towns = src.drop_duplicates("township_code")
    first = {t: i for i, t in enumerate(towns["township_code"])}
    column_of = {code: j for j, code in enumerate(INDICATOR_CODES)}
    where = [[None] * len(INDICATOR_CODES) for _ in range(len(towns))]
    for town, indicator, sheet, cell in zip(src["township_code"], src["indicator"], src["sheet"], src["cell"]):
        where[first[town]][column_of[indicator]] = f"「{neutral(sheet)}」{neutral(cell)}" if neutral(sheet) and neutral(cell) else UNRECORDED
    return [
        (str(r["township_code"]), neutral(r["township_name"]), neutral(r["file_name"]), plain(r["received_at"]), str(r["sha256"] or "") or None, *w)
        for r, w in zip(towns.to_dict("records"), where)
    ]


def _na(value):
    return None if value is None or pd.isna(value) else value


def county_inputs(seed: int, towns: int) -> tuple[CountyConfig, Inputs]:
    """A generated county: superseded files, cells missing, blank or hostile, notes here and there."""
    rnd = random.Random(seed)
    config = CountyConfig(
        county_code="410101", county_name="测试县",
        townships=[Township(code=f"410101{i:03d}", name=f"乡镇{i}") for i in range(towns)],
        periods=[PeriodConfig(period=PERIOD, due="2026-01-15")],
    )
    current, subs, cells = [], [], []
    sid = 0
    t0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
    for t in config.townships:
        if rnd.random() < 0.15:
            continue  # not reported
        for version in range(rnd.choice((1, 1, 2))):
            sid += 1
            name = rnd.choice((f"{t.name}年报v{version}.xlsx", f"=HYPERLINK({sid}).xlsx", f"{t.name}（更正）.xlsx"))
            at = t0 + timedelta(hours=sid)
            sha = rnd.choice((f"{sid:064x}", None)) if rnd.random() < 0.1 else f"{sid:064x}"
            subs.append({"submission_id": sid, "township_code": t.code, "township_name": t.name, "file_name": name, "source": name,
                         "sha256": sha, "size": 1, "received_at": at, "status": "accepted", "error_count": 0,
                         "warning_count": 0, "is_current": False})
        subs[-1]["is_current"] = True
        row = {"township_code": t.code, "submission_id": sid, "file_name": subs[-1]["file_name"], "received_at": subs[-1]["received_at"]}
        for ind in INDICATORS:
            row[ind.code] = None if rnd.random() < 0.05 else (round(rnd.uniform(0, 900), 2) if ind.is_money else rnd.randint(1, 900))
        current.append(row)
        if rnd.random() < 0.1:
            continue  # a file stored before cells were recorded
        for i, ind in enumerate(INDICATORS):
            if rnd.random() < 0.03:
                continue
            sheet = rnd.choice(("主要指标", "主要指标", None, "=bad")) if rnd.random() < 0.05 else "主要指标"
            cell = rnd.choice((f"D{i + 5}", f"E{i + 5}", None, "")) if rnd.random() < 0.05 else f"D{i + 5}"
            cells.append({"township_code": t.code, "submission_id": sid, "indicator": ind.code, "sheet": sheet, "cell": cell,
                          "note": "说明" if rnd.random() < 0.01 else None})
    cells.append({"township_code": "x", "submission_id": sid + 99, "indicator": "A01", "sheet": "s", "cell": "A1", "note": None})
    frame = lambda rows, cols: pd.DataFrame(rows, columns=list(cols)) if rows else empty_frame(cols)  # noqa: E731
    cur = frame(current, CURRENT_COLUMNS)
    cur["received_at"] = pd.to_datetime(cur["received_at"], utc=True)
    sub = frame(subs, SUBMISSION_COLUMNS)
    sub["received_at"] = pd.to_datetime(sub["received_at"], utc=True)
    inputs = Inputs(
        period=PERIOD, current=cur, previous=empty_frame(CURRENT_COLUMNS), submissions=sub, findings=empty_frame(FINDING_COLUMNS),
        units=pd.DataFrame(columns=["township_code", "submission_id", "row", "uscc", "name"]),
        decisions=pd.DataFrame(columns=["township_code", "decision", "reason", "decided_by", "decided_at"]),
        cells=frame(cells, CELL_COLUMNS),
    )
    return config, inputs


@pytest.mark.parametrize("seed, towns", [(seed, 1 + seed * 7 % 40) for seed in range(12)])
def test_wide_sources_say_what_the_long_form_said(seed, towns):
    config, inputs = county_inputs(seed, towns)
    names = {t.code: t.name for t in config.townships}
    values = _current_by_township(inputs.current, pd.Series([t.code for t in config.townships]))
    old = old_build_sources(inputs, values, names)
    new = build_sources(inputs, values, names)

    assert list(new["township_code"]) == list(values.index)
    # every (township, indicator) row of the old form, read from the new one
    for r in old.to_dict("records"):
        row = new[new["township_code"] == r["township_code"]].iloc[0]
        for col in ("township_name", "file_name", "received_at", "sha256"):
            assert _na(row[col]) == _na(r[col]), col
        assert _na(row[sheet_column(r["indicator"])]) == _na(r["sheet"])
        assert _na(row[cell_column(r["indicator"])]) == _na(r["cell"])

    c = consolidate(config, inputs, AS_OF)
    assert old_sheet_rows(old) == [row.values for row in sources_sheet(c, "2025年").rows]
    for code in ("A01", INDICATOR_CODES[-1]):
        parts = trace_indicator(c, code).parts
        src = old[old["indicator"] == code]
        assert [(p.township_code, p.value, p.file_name, p.sha256, p.sheet, p.cell) for p in parts] == [
            (r["township_code"], None if pd.isna(r["value"]) else float(r["value"]), r["file_name"], r["sha256"], _na(r["sheet"]), _na(r["cell"]))
            for r in src.to_dict("records")
        ]
    assert trace_lines(c, "R02")  # a rate: through its numerator and denominator

    # an outlier's finding carries its cell and file, as it did when looked up in the long form
    found = [(code, warning("county.outlier", "离群", field=f"summary.{ind}")) for code in list(values.index)[:5] for ind in ("A01", "D06")]
    found.append((config.townships[0].code, warning("county.outlier", "无指标", field="roster")))
    placed = _township_findings(found, new)
    where = old.set_index(["township_code", "indicator"])
    for (code, f), rec in zip(found, placed.to_dict("records")):
        key = (code, f.field.split(".", 1)[1] if f.field.startswith("summary.") else None)
        hit = where.loc[key] if key in where.index else None
        assert rec["file_name"] == ("" if hit is None else str(hit["file_name"]))
        assert _na(rec["cell"]) == (None if hit is None or pd.isna(hit["cell"]) else str(hit["cell"]))
        assert _na(rec["sheet"]) == (None if hit is None or pd.isna(hit["sheet"]) else str(hit["sheet"]))


def test_sources_columns_are_small():
    """A template puts an indicator in one cell for every township: a category, not a string per row."""
    config, inputs = county_inputs(1, 60)
    values = _current_by_township(inputs.current, pd.Series([t.code for t in config.townships]))
    new = build_sources(inputs, values, {t.code: t.name for t in config.townships})
    assert all(isinstance(new[sheet_column(c)].dtype, pd.CategoricalDtype) for c in INDICATOR_CODES)
    assert len(new[cell_column("A01")].cat.categories) <= 5
