"""County consolidation of township returns: pure functions, DataFrames in, a ``Consolidation`` out.

No database, no Excel, no Prefect here. ``nianbao.store.Store.load_inputs`` produces the
``Inputs`` (frames whose columns are declared below); :func:`consolidate` turns them and the
county config into totals, rates, a per-township table, the submission status of every
expected township, the findings to show, and the year-on-year comparison.

Rules that matter to statisticians:

* Totals come from each township's *current* return: the latest one that passed validation.
  A newer rejected file does not replace it (it makes the township's status 退回 instead).
* Rates are recomputed from sums (county rate from county totals), never averaged.
* Money is summed in whole 分 (cents) so 2,000 returns add up exactly, then shown in 万元
  rounded to two decimals.
* Times shown to county staff are naive Beijing wall-clock times (what Excel can hold);
  stored times are UTC. A naive input time is taken as Beijing time.
* Year-on-year compares like for like (同口径): only townships that have a current return in
  both periods, so returns still arriving during the season do not flag every indicator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from nianbao.localtime import LOCAL_TZ, local_naive
from nianbao.lineage import SOURCE_COLUMNS, build_sources, cell_column, sheet_column
from nianbao.outliers import explain_county_yoy, find_outliers, notes_by_township
from nianbao.grouping import group_table
from nianbao.schemas.county import CountyConfig
from nianbao.schemas.findings import Finding, Severity, warning
from nianbao.schemas.levels import LEVELS, Level, LevelInfo
from nianbao.schemas.indicators import BY_CODE, INDICATOR_CODES, INDICATORS, MONEY_UNIT, RATES
from nianbao.schemas.models import Period

RATE_CODES: tuple[str, ...] = tuple(r.code for r in RATES)
MONEY_CODES: tuple[str, ...] = tuple(i.code for i in INDICATORS if i.is_money)
COUNT_CODES: tuple[str, ...] = tuple(i.code for i in INDICATORS if not i.is_money)


class FileStatus(StrEnum):
    """What validation made of a received file (stored with the submission)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNREADABLE = "unreadable"


class TownshipStatus(StrEnum):
    REPORTED = "已报"
    MISSING = "未报"
    LATE = "逾期"
    SENT_BACK = "退回"


class Decision(StrEnum):
    APPROVED = "通过"
    SENT_BACK = "退回"


# Column contracts of the input frames (what Store.load_inputs returns).
CURRENT_META: tuple[str, ...] = ("township_code", "submission_id", "file_name", "received_at")
CURRENT_COLUMNS: tuple[str, ...] = CURRENT_META + INDICATOR_CODES
SUBMISSION_COLUMNS: tuple[str, ...] = (
    "submission_id", "township_code", "township_name", "file_name", "source", "sha256", "size",
    "received_at", "status", "error_count", "warning_count", "is_current",
)
FINDING_COLUMNS: tuple[str, ...] = (
    "township_code", "submission_id", "file_name", "severity", "code", "sheet", "cell", "field",
    "label", "value", "expected", "message", "note",
)
UNIT_COLUMNS: tuple[str, ...] = ("township_code", "submission_id", "row", "uscc", "name")
DECISION_COLUMNS: tuple[str, ...] = ("township_code", "decision", "reason", "decided_by", "decided_at")
CELL_COLUMNS: tuple[str, ...] = ("township_code", "submission_id", "indicator", "sheet", "cell", "note")

# Output frame columns.
STATUS_COLUMNS: tuple[str, ...] = (
    "township_code", "township_name", "received", "valid", "late", "last_received", "file_name",
    "status", "findings_count", "decision", "reason",
)
FINDINGS_OUT_COLUMNS: tuple[str, ...] = (
    "township_code", "township_name", "file_name", "severity", "code", "sheet", "cell", "field", "message", "note",
)
YOY_COLUMNS: tuple[str, ...] = ("code", "label", "unit", "current", "previous", "change", "share", "flagged")
RUN_COUNT_KEYS: tuple[str, ...] = ("expected", "received", "valid", "on_time", "late", "sent_back", "missing", "findings")


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True)
class Inputs:
    """Everything consolidation reads for one period; see the *_COLUMNS contracts above.

    ``received_at`` / ``decided_at`` columns hold tz-aware (UTC) or naive Beijing timestamps.
    """

    period: str
    current: pd.DataFrame  # CURRENT_COLUMNS: the current accepted return per township
    previous: pd.DataFrame  # CURRENT_COLUMNS for the previous period (year-on-year)
    submissions: pd.DataFrame  # SUBMISSION_COLUMNS: every file received for the period
    findings: pd.DataFrame  # FINDING_COLUMNS: findings of each township's latest submission
    units: pd.DataFrame  # UNIT_COLUMNS: roster units of the current returns
    decisions: pd.DataFrame  # DECISION_COLUMNS: the latest county decision per township
    # FINDING_COLUMNS: files still in the inbox that name no township (unreadable, not a return)
    unidentified: pd.DataFrame = field(default_factory=lambda: empty_frame(FINDING_COLUMNS))
    # CELL_COLUMNS: where each current value was read, and the 情况说明 beside it
    cells: pd.DataFrame = field(default_factory=lambda: empty_frame(CELL_COLUMNS))
    # nianbao.grouping.GROUP_COLUMNS: the current returns' roster totals by group (分组汇总)
    groups: pd.DataFrame | None = None

    @classmethod
    def empty(cls, period: str) -> "Inputs":
        return cls(
            period=str(Period(period)),
            current=empty_frame(CURRENT_COLUMNS),
            previous=empty_frame(CURRENT_COLUMNS),
            submissions=empty_frame(SUBMISSION_COLUMNS),
            findings=empty_frame(FINDING_COLUMNS),
            units=empty_frame(UNIT_COLUMNS),
            decisions=empty_frame(DECISION_COLUMNS),
        )


@dataclass(frozen=True)
class Consolidation:
    county_code: str
    county_name: str
    period: str
    as_of: datetime  # 数据截至: the run time (naive Beijing time)
    totals: pd.Series  # indicator code (INDICATORS order) -> int for counts, float (2 dp) for 万元
    rates: pd.Series  # rate code (RATES order) -> float ratio, NaN when the denominator is 0/missing
    by_township: pd.DataFrame  # township_code, township_name, indicator codes…, rate codes…
    status: pd.DataFrame  # STATUS_COLUMNS, one row per expected township, config order
    findings: pd.DataFrame  # FINDINGS_OUT_COLUMNS; county-level findings have township_code ""
    yoy: pd.DataFrame  # YOY_COLUMNS, indicators then rates
    previous_period: str
    # --- added after the agreed shape (all defaulted) ---
    due: date | None = None  # the period's due date from the county config
    completeness: float = float("nan")  # 报送率 = (已报 + 逾期) / expected
    timeliness: float = float("nan")  # 及时率 = 已报 / expected
    status_counts: Mapping[str, int] = field(default_factory=dict)  # 已报/逾期/退回/未报 -> count
    yoy_townships: int = 0  # townships in the like-for-like (同口径) year-on-year basis
    # nianbao.lineage.SOURCE_COLUMNS: per township its file, and the sheet and cell of each figure on 分乡镇
    sources: pd.DataFrame = field(default_factory=lambda: empty_frame(SOURCE_COLUMNS))
    changes: Any = None  # nianbao.changes.Changes since the previous publish, set by the pipeline
    level: str = "县"  # the config's level (nianbao.schemas.levels): 县 sums townships, 市 counties
    groups: pd.DataFrame | None = None  # 分组汇总 (nianbao.grouping.group_table), None without data

    def run_counts(self) -> dict[str, int]:
        """The counts recorded with a consolidation run (``Store.finish_run``)."""
        st = self.status
        c = self.status_counts
        return {
            "expected": len(st),
            "received": int(st["received"].sum()),
            "valid": c.get(TownshipStatus.REPORTED, 0) + c.get(TownshipStatus.LATE, 0),
            "on_time": c.get(TownshipStatus.REPORTED, 0),
            "late": c.get(TownshipStatus.LATE, 0),
            "sent_back": c.get(TownshipStatus.SENT_BACK, 0),
            "missing": c.get(TownshipStatus.MISSING, 0),
            "findings": len(self.findings),
        }


# --------------------------------------------------------------------------------------------
# helpers


def to_local_naive(values: pd.Series) -> pd.Series:
    """Timestamps (aware: any zone; naive: Beijing) as naive Beijing wall-clock times."""
    ser = pd.to_datetime(values)
    if getattr(ser.dt, "tz", None) is not None:
        ser = ser.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return ser


def _townships(config: CountyConfig) -> pd.DataFrame:
    return pd.DataFrame(
        {"township_code": [t.code for t in config.townships], "township_name": [t.name for t in config.townships]}
    )


def _indicator_values(current: pd.DataFrame) -> pd.DataFrame:
    """Indicator columns with counts as nullable integers and money as floats rounded to 2 dp."""
    out = pd.DataFrame(index=current.index)
    for code in INDICATOR_CODES:
        col = pd.to_numeric(current[code], errors="coerce") if code in current else pd.Series(np.nan, index=current.index)
        out[code] = col.round(2).astype("float64") if code in MONEY_CODES else col.round().astype("Int64")
    return out


def _sum(values: pd.DataFrame) -> pd.Series:
    """Column sums: counts as int, money summed in whole 分 then as 万元 rounded to 2 dp."""
    counts = values[list(COUNT_CODES)].sum(skipna=True).astype("int64")
    cents = (values[list(MONEY_CODES)].astype("float64") * 100).round().sum(skipna=True)
    money = (cents / 100).round(2)
    out = pd.Series(index=list(INDICATOR_CODES), dtype=object)
    out[list(COUNT_CODES)] = [int(v) for v in counts]
    out[list(MONEY_CODES)] = [float(v) for v in money]
    return out


def _rate_frame(values: pd.DataFrame) -> pd.DataFrame:
    """Rates per row from that row's own numerator and denominator; NaN when the denominator is 0/blank."""
    out = {}
    for rate in RATES:
        num = values[rate.numerator].astype("float64")
        den = values[rate.denominator].astype("float64")
        out[rate.code] = (num / den.where(den > 0)).astype("float64")
    return pd.DataFrame(out, index=values.index)


def _rates_of(totals: pd.Series) -> pd.Series:
    return _rate_frame(pd.DataFrame([totals.astype("float64")])).iloc[0].rename(None)


# --------------------------------------------------------------------------------------------
# status


def _status(config: CountyConfig, inputs: Inputs, due: date | None) -> pd.DataFrame:
    st = _townships(config)
    subs = inputs.submissions
    subs = subs[subs["township_code"].isin(st["township_code"])].copy()
    subs["received_local"] = to_local_naive(subs["received_at"])
    subs["findings_count"] = (
        pd.to_numeric(subs["error_count"]).fillna(0) + pd.to_numeric(subs["warning_count"]).fillna(0)
    ).astype("int64")
    latest = (
        subs.sort_values(["received_local", "submission_id"])
        .groupby("township_code", sort=False)
        .tail(1)
        .set_index("township_code")
    )
    # Timeliness is judged by the first valid file: a township that delivered on time and later
    # sent a corrected file is not late.
    first_valid = subs[subs["status"] == FileStatus.ACCEPTED].groupby("township_code")["received_local"].min()

    dec = inputs.decisions.copy()
    dec["decided_local"] = to_local_naive(dec["decided_at"])
    dec = dec.sort_values("decided_local").groupby("township_code").tail(1).set_index("township_code")

    codes = st["township_code"].to_numpy()
    latest = latest.reindex(codes)
    dec = dec.reindex(codes)
    last_received = pd.to_datetime(latest["received_local"])
    file_status = latest["status"]
    first_ok = pd.to_datetime(first_valid.reindex(codes))
    decided = pd.to_datetime(dec["decided_local"])
    # A decision is about the file it was taken on: a newer submission makes it void.
    applies = (decided.notna() & last_received.notna() & (decided >= last_received)).to_numpy()
    decision = dec["decision"].where(applies, "").fillna("").astype(str).to_numpy()
    reason = dec["reason"].where(applies, "").fillna("").astype(str).to_numpy()

    received = file_status.notna().to_numpy()
    valid = (file_status == FileStatus.ACCEPTED).fillna(False).to_numpy(dtype=bool)
    late = np.zeros(len(codes), dtype=bool)
    if due is not None:
        late = valid & (first_ok >= pd.Timestamp(due + timedelta(days=1))).fillna(False).to_numpy(dtype=bool)
    sent_back = ~valid | (decision == Decision.SENT_BACK.value)
    st["received"] = received
    st["valid"] = valid
    st["late"] = late
    st["last_received"] = last_received.to_numpy()
    st["file_name"] = latest["file_name"].fillna("").astype(str).to_numpy()
    st["status"] = np.select(
        [~received, sent_back, late],
        [TownshipStatus.MISSING.value, TownshipStatus.SENT_BACK.value, TownshipStatus.LATE.value],
        TownshipStatus.REPORTED.value,
    )
    st["findings_count"] = latest["findings_count"].fillna(0).astype("int64").to_numpy()
    st["decision"] = decision
    st["reason"] = reason
    return st[list(STATUS_COLUMNS)]


# --------------------------------------------------------------------------------------------
# findings created here


def _fmt(value: float, unit: str) -> str:
    """A value for a message: rates ("" unit) as percent, 万元 with 2 decimals, counts whole."""
    if unit == "":
        return f"{value:.1%}"
    if unit == MONEY_UNIT:
        return f"{value:,.2f}{unit}"
    return f"{int(value):,}{unit}"


def _yoy(config: CountyConfig, current: pd.DataFrame, previous: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Like-for-like (同口径) year-on-year table and the number of townships compared."""
    basis = current.index.intersection(previous.index)
    # Without any common township there is nothing to compare: show this period's totals.
    cur_tot = _sum(current.loc[basis] if len(basis) else current)
    prev_tot = _sum(previous.loc[basis])
    cur = pd.concat([cur_tot.astype("float64"), _rates_of(cur_tot)])
    prev = pd.concat([prev_tot.astype("float64"), _rates_of(prev_tot)])
    if len(basis) == 0:
        prev[:] = np.nan
    change = cur - prev
    share = change / prev.where(prev != 0)
    yoy = pd.DataFrame(
        {
            "code": [*INDICATOR_CODES, *RATE_CODES],
            "label": [i.label for i in INDICATORS] + [r.label for r in RATES],
            "unit": [i.unit for i in INDICATORS] + [""] * len(RATES),
            "current": cur.to_numpy(),
            "previous": prev.to_numpy(),
            "change": change.to_numpy(),
            "share": share.to_numpy(dtype="float64"),
        }
    )
    yoy["flagged"] = (yoy["share"].abs() > config.yoy_threshold).fillna(False).astype(bool)
    return yoy, len(basis)


def _yoy_findings(
    yoy: pd.DataFrame, threshold: float, period: str, previous_period: str, basis: int, info: LevelInfo = LEVELS[Level.COUNTY]
) -> list[Finding]:
    out = []
    for row in yoy[yoy["flagged"]].itertuples(index=False):
        field_ = f"summary.{row.code}" if row.code in BY_CODE else None
        out.append(
            warning(
                "hist.yoy",
                f"「{row.label}」{info.whole}{Period(period).label}为 {_fmt(row.current, row.unit)}，"
                f"{Period(previous_period).label}为 {_fmt(row.previous, row.unit)}，同比变动 {row.share:+.1%}，"
                f"超过 ±{threshold:.0%} 的提示阈值（同口径 {basis} 个{info.child}）；请核实数据并说明变动原因",
                field=field_,
                label=row.label,
                value=_fmt(row.current, row.unit),
                expected=f"同比变动不超过 ±{threshold:.0%}，或附变动说明",
            )
        )
    return out


def _duplicate_units(units: pd.DataFrame, names: Mapping[str, str], info: LevelInfo = LEVELS[Level.COUNTY]) -> list[Finding]:
    """A unit (same USCC) in the rosters of two or more townships' current returns."""
    u = units[["township_code", "row", "uscc", "name"]].copy()
    u["uscc"] = u["uscc"].astype("string").str.strip().str.upper()
    u = u[u["uscc"].notna() & (u["uscc"] != "")]
    u = u.drop_duplicates(["uscc", "township_code"])
    shared = u.groupby("uscc")["township_code"].transform("nunique") > 1
    out = []
    for uscc, group in u[shared].groupby("uscc", sort=True):
        places = "、".join(
            f"{names.get(r.township_code, r.township_code)}（{r.township_code}）名册第{int(r.row) + 1}条「{r.name or '（未填名称）'}」"
            for r in group.itertuples(index=False)
        )
        unit_name = next((n for n in group["name"] if isinstance(n, str) and n), "（未填名称）")
        out.append(
            warning(
                "county.dup_unit",
                f"单位「{unit_name}」（统一社会信用代码 {uscc}）同时出现在多个{info.child}的基层工会名册中：{places}；"
                f"同一单位只能由一个{info.child}填报，请核实归属后由不应填报的{info.child}删除该行并重新报送",
                field="roster",
                value=str(uscc),
                expected=f"每个单位只出现在一个{info.child}的名册中",
            )
        )
    return out


def _unknown_townships(submissions: pd.DataFrame, known: set[str], info: LevelInfo = LEVELS[Level.COUNTY]) -> list[Finding]:
    subs = submissions[~submissions["township_code"].isin(known) & (submissions["township_code"].fillna("") != "")]
    out = []
    for code, group in subs.groupby("township_code", sort=True):
        files = "、".join(f"「{n}」" for n in group["file_name"].astype(str).unique())
        out.append(
            warning(
                "county.unknown_township",
                f"收到填报单位代码 {code} 的报表{files}，该代码不在本{info.level.value}配置的{info.child}名单中，未计入汇总；"
                f"请核对封面「填报单位代码」，或在{info.level.value}配置中补充该{info.child}",
                field="cover.township_code",
                value=str(code),
                expected=f"{info.level.value}配置中的{info.child}代码",
            )
        )
    return out


def _township_findings(found: list[tuple[str, Finding]], sources: pd.DataFrame) -> pd.DataFrame:
    """Consolidation warnings about one township, placed at the cell of its current return."""
    if not found:
        return empty_frame(FINDING_COLUMNS)
    where = sources.set_index("township_code") if len(sources) else None
    records = []
    for code, f in found:
        indicator = f.field.split(".", 1)[1] if f.field and f.field.startswith("summary.") else None
        known = where is not None and indicator in BY_CODE and code in where.index
        sheet = where.at[code, sheet_column(indicator)] if known else None
        cell = where.at[code, cell_column(indicator)] if known else None
        sheet = None if sheet is None or pd.isna(sheet) else str(sheet)
        cell = None if cell is None or pd.isna(cell) else str(cell)
        prefix = (f"「{sheet}」{cell}" if sheet and cell else "") + (f"【{BY_CODE[indicator].label}】" if indicator in BY_CODE else "")
        records.append({
            **f.model_dump(mode="json"), "township_code": code, "submission_id": None,
            "file_name": str(where.at[code, "file_name"]) if known else "", "sheet": sheet, "cell": cell,
            "message": prefix + f.message,
        })
    return pd.DataFrame(records).reindex(columns=list(FINDING_COLUMNS))


def _findings_frame(
    township_findings: pd.DataFrame, county: list[Finding], order: pd.DataFrame, unidentified: pd.DataFrame
) -> pd.DataFrame:
    tf = township_findings.merge(order.reset_index(), on="township_code", how="inner")
    tf = tf.sort_values(["_order"], kind="stable")
    cf = pd.DataFrame([f.model_dump(mode="json") for f in county], columns=list(Finding.model_fields))
    cf["township_code"] = ""
    cf["township_name"] = ""
    cf["file_name"] = ""
    uf = unidentified.assign(township_code="", township_name="（未能识别乡镇）")
    frames = [f.reindex(columns=FINDINGS_OUT_COLUMNS) for f in (tf, uf, cf) if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else empty_frame(FINDINGS_OUT_COLUMNS)
    out = out.astype(object).where(out.notna(), None)
    for col in ("township_code", "township_name", "file_name", "message", "note"):
        out[col] = out[col].fillna("")
    out["severity"] = out["severity"].map(lambda s: Severity(s).value)
    return out[list(FINDINGS_OUT_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# the consolidation


def _current_by_township(frame: pd.DataFrame, codes: pd.Series) -> pd.DataFrame:
    """Indicator values of the townships in ``codes`` that have a current return, in ``codes`` order."""
    frame = frame.drop_duplicates("township_code", keep="last").set_index("township_code")
    present = codes[codes.isin(frame.index)]
    return _indicator_values(frame.loc[present.to_numpy()])


def consolidate(config: CountyConfig, inputs: Inputs, as_of: datetime) -> Consolidation:
    period = str(Period(inputs.period))
    previous_period = str(Period(period).previous())
    towns = _townships(config)
    names = dict(zip(towns["township_code"], towns["township_name"]))
    period_cfg = config.period(period)
    due = period_cfg.due if period_cfg else None

    current = _current_by_township(inputs.current, towns["township_code"])
    previous = _current_by_township(inputs.previous, towns["township_code"])
    totals = _sum(current)
    rates = _rates_of(totals)

    by_township = pd.concat([current, _rate_frame(current)], axis=1)
    by_township.insert(0, "township_name", by_township.index.map(names))
    by_township = by_township.rename_axis("township_code").reset_index()

    status = _status(config, inputs, due)
    counts = status["status"].value_counts()
    status_counts = {s.value: int(counts.get(s.value, 0)) for s in TownshipStatus}
    expected = len(status)
    completeness = (status_counts["已报"] + status_counts["逾期"]) / expected
    timeliness = status_counts["已报"] / expected

    yoy, basis = _yoy(config, current, previous)
    county_findings: list[Finding] = []
    if due is None:
        county_findings.append(
            warning(
                "county.no_due_date",
                f"县配置中没有报告期 {period} 的报送截止日期，无法判断是否逾期；请在县配置 [[periods]] 中补充该报告期",
                value=period,
                expected="县配置中已配置的报告期",
            )
        )
    county_findings += _unknown_townships(inputs.submissions, set(names), config.info)
    county_findings += _duplicate_units(inputs.units[inputs.units["township_code"].isin(current.index)], names, config.info)
    notes = notes_by_township(inputs.cells[inputs.cells["note"].notna()])  # a few of 650 000 rows at 10 000 townships
    county_findings += [explain_county_yoy(f, notes, names) for f in _yoy_findings(yoy, config.yoy_threshold, period, previous_period, basis, config.info)]
    sources = build_sources(inputs, current, names)
    outliers = _township_findings(find_outliers(current, names, config.outlier_threshold, notes), sources)

    order = towns.assign(_order=range(len(towns))).set_index("township_code")
    township_findings = pd.concat([f for f in (inputs.findings, outliers) if len(f)], ignore_index=True) if len(outliers) else inputs.findings
    findings = _findings_frame(township_findings, county_findings, order, inputs.unidentified)

    return Consolidation(
        county_code=config.county_code,
        county_name=config.county_name,
        period=period,
        as_of=local_naive(as_of),
        totals=totals,
        rates=rates,
        by_township=by_township,
        status=status,
        findings=findings,
        yoy=yoy,
        previous_period=previous_period,
        due=due,
        completeness=completeness,
        timeliness=timeliness,
        status_counts=status_counts,
        yoy_townships=basis,
        sources=sources,
        level=config.level.value,
        groups=None if inputs.groups is None else group_table(inputs.groups, names, towns["township_code"]),
    )
