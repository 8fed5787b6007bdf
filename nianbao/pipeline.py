"""The plain functions behind the nightly flow: extract → validate → store → consolidate → publish.

The Prefect flow (``flows/nightly.py``) only orchestrates these; the xlwings add-in calls the
same ones. Only the edges touch the inbox, the database and Excel files.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from nianbao.changes import compare, snapshot
from nianbao.consolidate import Consolidation, Decision, FileStatus, TownshipStatus, consolidate, local_naive
from nianbao.inbox import InboxFile, list_returns, local_copy, sha256_of
from nianbao.store import Recorded, Store, open_store
from nianbao.validate import check_file
from nianbao.settings import Settings
from nianbao.schemas.county import CountyConfig, load_county
from nianbao.schemas.findings import Finding, Report
from nianbao.schemas.models import Period, TownshipReturn
from nianbao.workbooks.layout import CellMap, a1
from nianbao.workbooks.master import write_master
from nianbao.workbooks.master_layout import NB_STATUS, Review, kept_reviews, master_sheets, plain
from nianbao.workbooks.receipt import ReceiptInfo, receipt_name, write_receipt

log = logging.getLogger(__name__)


@dataclass
class Stopwatch:
    """Time spent inside the plain functions, by stage, so a benchmark can tell orchestration
    (the flow's total minus ``seconds``) apart and show where the work goes."""

    stages: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.stages.values())

    def reset(self) -> None:
        self.stages.clear()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start


WORK = Stopwatch()


@dataclass(frozen=True)
class Received:
    file: InboxFile
    sha256: str
    report: Report
    ret: TownshipReturn | None
    cells: CellMap | None = None


@dataclass(frozen=True)
class Stored:
    """A recorded file, without its parsed return (kept small: the flow streams batches)."""

    file: InboxFile
    sha256: str
    report: Report
    recorded: Recorded


@dataclass
class RunResult:
    period: str
    master: Path | None  # None when the run left the master workbook file alone
    receipts: list[Path] = field(default_factory=list)
    seen: int = 0
    new: int = 0
    accepted: int = 0
    rejected: int = 0
    consolidation: Consolidation | None = None


def now_local() -> datetime:
    """The run time as county staff read it (naive Beijing time, what Excel can hold)."""
    return local_naive(datetime.now(timezone.utc))


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


def extract(inbox: str) -> list[InboxFile]:
    return list_returns(inbox)


def validate_files(files: Iterable[InboxFile], county: CountyConfig, known: set[str]) -> list[Received]:
    """Validate the files not seen before. One bad file yields a finding, never an exception."""
    out = []
    for file in files:
        with local_copy(file) as path:
            digest = sha256_of(path)
            if digest in known:
                continue
            checked = check_file(path, county=county, name=file.name)
        out.append(Received(file, digest, checked.report, checked.ret, checked.cells))
    return out


def store_files(store: Store, received: Sequence[Received]) -> list[Stored]:
    """Record a batch in one transaction."""
    recorded = store.record_many(
        [
            (r.report, r.ret, dict(sha256=r.sha256, size=r.file.size, file_name=r.file.name, source=r.file.url, received_at=r.file.modified, cells=r.cells))
            for r in received
        ]
    )
    return [Stored(r.file, r.sha256, r.report, rec) for r, rec in zip(received, recorded)]


def consolidate_period(
    store: Store, county: CountyConfig, period: str, as_of: datetime, inbox_files: Sequence[InboxFile] = ()
) -> Consolidation:
    """Consolidate from the store (never by re-reading returns) and record the run.

    ``inbox_files`` are the files now in the inbox: those that name no township are listed
    among the findings for as long as they stay there.
    """
    run_id = store.start_run(period, at=as_of)
    c = consolidate(county, store.load_inputs(period, sources=[f.url for f in inbox_files]), as_of)
    store.finish_run(run_id, c.run_counts())
    return with_changes(store, c)


def with_changes(store: Store, c: Consolidation) -> Consolidation:
    """``c`` with what changed since the period's previous publish; records ``c`` as the latest."""
    now = snapshot(c)
    changes = compare(store.last_publish(c.period), now)
    store.save_publish(c.period, now, c.as_of)
    return dataclasses.replace(c, changes=changes)


def publish_master(c: Consolidation, path: Path) -> Path:
    return write_master(c, path)


def publish_receipts(stored: Iterable[Stored], county: CountyConfig, outbox: Path, c: Consolidation | None = None) -> list[Path]:
    """One receipt per township and period for what it sent in this run (the latest file wins).

    With the run's consolidation ``c``, a receipt also carries the county's warnings about that
    file (outliers across townships), marked 已说明 where the township explained them.
    """
    latest: dict[str, Stored] = {}
    for s in stored:
        if s.recorded.already_known:
            continue
        key = f"{s.report.township}_{s.report.period}" if s.report.township else f"未识别_{Path(s.file.name).stem}"
        if key not in latest or latest[key].file.modified <= s.file.modified:
            latest[key] = s
    return [
        write_township_receipt(s.file, s.sha256, with_county_findings(s.report, c), county, outbox, key)
        for key, s in sorted(latest.items())
    ]


def with_county_findings(report: Report, c: Consolidation | None) -> Report:
    """``report`` plus the consolidation's explainable warnings about the same file of the same period."""
    from nianbao.outliers import EXPLAINABLE

    if c is None or report.period != c.period or not report.township:
        return report
    f = c.findings
    mine = f[(f["township_code"] == report.township) & (f["file_name"] == report.file) & f["code"].isin(EXPLAINABLE)]
    extra = [
        Finding(**{k: (plain(r.get(k)) or None) if k not in ("code", "severity", "message") else r[k] for k in Finding.model_fields})
        for r in mine.to_dict("records")
    ]
    return report.model_copy(update={"findings": [*report.findings, *extra]}) if extra else report


def write_township_receipt(
    file: InboxFile, sha256: str, report: Report, county: CountyConfig, outbox: Path, key: str,
    decision: str = "", reason: str = "",
) -> Path:
    """The receipt (回执) for one received file, with the county's decision if there is one.

    ``key`` names the receipt of a file whose township is not in the county config.
    """
    town = county.township(report.township or "")
    name = receipt_name(report.township, town.name, report.period or "") if town else f"{key}_回执.xlsx"
    info = ReceiptInfo(
        township_name=town.name if town else "（未识别的乡镇）",
        period=report.period or "",
        file_name=file.name,
        sha256=sha256,
        received_at=local_naive(file.modified),
        accepted=report.valid,
        decision=decision,
        reason=reason,
        contact=county.contact,
    )
    try:
        with local_copy(file) as source:
            return write_receipt(source if source.exists() else None, report, info, Path(outbox) / name)
    except FileNotFoundError:  # gone from a remote inbox: the 回执 sheet alone still says why
        return write_receipt(None, report, info, Path(outbox) / name)


def ingest(store: Store, county: CountyConfig, files: Sequence[InboxFile], batch_size: int) -> list[Stored]:
    """Validate and record, in batches, the files whose content the store has not seen."""
    known = store.known_hashes()
    stored: list[Stored] = []
    for batch in batches(files, batch_size):
        stored += store_files(store, validate_files(batch, county, known))
    return stored


def run_once(
    settings: Settings, period: str | None = None, as_of: datetime | None = None, *, master_file: bool = True
) -> RunResult:
    """The whole job without Prefect: used by the add-in and as the benchmark's baseline.

    ``master_file=False`` leaves the master workbook file alone (the add-in refreshes the
    book open in Excel instead; the file may be that very book, locked by Excel).
    """
    county = load_county(settings.config)
    period = period or county.latest_period
    store = open_store(settings.db)
    try:
        files = extract(settings.inbox)
        stored = ingest(store, county, files, settings.batch_size)
        c = consolidate_period(store, county, period, as_of or now_local(), files)
        master = publish_master(c, settings.master_path(county, period)) if master_file else None
        result = RunResult(period, master, consolidation=c)
        result.receipts = publish_receipts(stored, county, Path(settings.outbox), c)
        return summarize(result, files, stored)
    finally:
        store.close()


def summarize(result: RunResult, files: Sequence[InboxFile], stored: Sequence[Stored]) -> RunResult:
    result.seen = len(files)
    result.new = sum(1 for s in stored if not s.recorded.already_known)
    result.accepted = sum(1 for s in stored if s.report.valid and not s.recorded.already_known)
    result.rejected = result.new - result.accepted
    return result


# --- the add-in's refresh: the same steps on demand, plus county decisions typed in Excel ------


def unrecorded_files(store: Store, files: Sequence[InboxFile], period: str) -> list[InboxFile]:
    """The inbox files whose content the store has not recorded: a refresh validates them first.

    A file at the place, with the size and modified time of a submission recorded for ``period``
    or the period before is known without reading it. Any other file is hashed and looked up,
    so a file copied in with an old modified time (Explorer keeps it) is still found.
    """
    seen: set[tuple[str, int, int]] = set()
    for p in (str(Period(period)), str(Period(period).previous())):
        subs = store.submissions(p)
        seen |= {_file_key(src, size, at) for src, size, at in zip(subs["source"], subs["size"], subs["received_at"])}
    rest = [f for f in files if _file_key(f.url, f.size, f.modified) not in seen]
    if not rest:
        return []
    known = store.known_hashes()
    unknown = []
    for file in rest:
        with local_copy(file) as path:
            if sha256_of(path) not in known:
                unknown.append(file)
    return unknown


def _file_key(source: str, size: int, modified: datetime) -> tuple[str, int, int]:
    return str(source), int(size), round(pd.Timestamp(modified).timestamp() * 1000)  # to the millisecond


@dataclass(frozen=True)
class DecisionTaken:
    township_code: str
    township_name: str
    decision: str  # 通过 / 退回
    reason: str


@dataclass
class ReviewOutcome:
    stored: list[DecisionTaken] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # Chinese: where, what was typed, what is expected
    unchanged: int = 0  # entries equal to the decision already stored


def store_reviews(
    store: Store, c: Consolidation, reviews: Mapping[str, Review], *, by: str, at: datetime
) -> ReviewOutcome:
    """Record the 审核意见/审核理由 county staff typed (township code -> Review) as decisions.

    An entry is taken only if it is about the file the township's row shows now (the entries
    the master workbook keeps, see ``nianbao.workbooks.master_layout.with_reviews``), is 通过 or 退回,
    gives a reason for 退回, concerns a received file (通过 only a valid one) and differs from
    the decision that applies now. Anything else is refused with a message saying where.
    """
    if not reviews:
        return ReviewOutcome()
    status_sheet = next(s for s in master_sheets(c) if s.data_name == NB_STATUS)
    kept = kept_reviews([status_sheet], reviews)
    rows = {r.values[0]: (status_sheet.first_row + i) for i, r in enumerate(status_sheet.rows)}
    column = status_sheet.column_index("decision")
    status = c.status.set_index("township_code")
    out = ReviewOutcome()
    for code, review in sorted(reviews.items()):
        where = f"「{status_sheet.title}」{a1(rows[code], column)}" if code in rows else f"「{status_sheet.title}」"
        if code not in status.index:
            out.refused.append(f"{where}：乡镇代码 {code} 不在本县的乡镇名单中，审核意见未保存")
            continue
        row = status.loc[code]
        who = f"{row['township_name']}（{code}）"
        problem = _review_problem(review, row, kept.get(code) is not None)
        if problem:
            out.refused.append(f"{where} {who}：{problem}")
            continue
        if (review.decision, review.reason) == (row["decision"], row["reason"]):
            out.unchanged += 1
            continue
        store.record_decision(code, c.period, review.decision, review.reason, by=by, at=at)
        out.stored.append(DecisionTaken(code, str(row["township_name"]), review.decision, review.reason))
    return out


def _review_problem(review: Review, row: pd.Series, about_current_file: bool) -> str | None:
    """Why an entry cannot be stored, in Chinese; None if it can."""
    typed = f"审核意见「{review.decision}」" if review.decision else "审核意见为空"
    if not about_current_file:
        return (
            f"{typed}是针对文件「{review.file_name or '（无）'}」填写的，该乡镇此后报送了「{row['file_name']}」；"
            "意见未保存，请审核新文件后重新填写"
        )
    if review.decision not in {d.value for d in Decision}:
        return f"{typed}（审核理由「{review.reason}」），应填写「通过」或「退回」；未保存"
    if review.decision == Decision.SENT_BACK and not review.reason:
        return "审核意见为「退回」，但审核理由为空；退回必须写明理由（乡镇会在回执中看到），本次未保存"
    if not plain(row["received"]):
        return f"{typed}，但该乡镇尚未报送，没有可审核的文件；未保存"
    if review.decision == Decision.APPROVED and not plain(row["valid"]):
        return (
            f"审核意见为「通过」，但最新报送的文件「{row['file_name']}」未通过校验（见「审核问题」）；"
            "请填写「退回」并写明理由，或等待乡镇重新报送；未保存"
        )
    return None


def publish_decision_receipts(
    store: Store, county: CountyConfig, period: str, decisions: Iterable[DecisionTaken], outbox: Path
) -> list[Path]:
    """Rewrite the receipt of each township's latest file so it carries the county's decision."""
    subs = store.submissions(period)
    latest = subs.groupby("township_code", sort=False).tail(1).set_index("township_code")
    findings = store.latest_findings(period)
    paths = []
    for d in decisions:
        sub = latest.loc[d.township_code]
        rows = findings[findings["township_code"] == d.township_code].to_dict("records")
        report = Report(
            file=str(sub["file_name"]),
            township=d.township_code,
            period=str(Period(period)),
            readable=sub["status"] != FileStatus.UNREADABLE,
            findings=[Finding(**{k: plain(r[k]) for k in Finding.model_fields}) for r in rows],
        )
        file = InboxFile(str(sub["source"]), str(sub["file_name"]), int(sub["size"]), sub["received_at"].to_pydatetime())
        paths.append(write_township_receipt(file, str(sub["sha256"]), report, county, outbox, d.township_code, d.decision, d.reason))
    return paths


@dataclass
class Refreshed:
    """What :func:`refresh_period` did, for the add-in to write and to tell."""

    consolidation: Consolidation
    pending: list[InboxFile]  # inbox files not recorded before: validated and stored first
    run: RunResult | None  # that run, if there was one
    reviews: ReviewOutcome
    receipts: list[Path]  # receipts rewritten for the decisions stored

    @property
    def missing(self) -> list[str]:
        st = self.consolidation.status
        return st.loc[st["status"] == TownshipStatus.MISSING.value, "township_name"].astype(str).tolist()


def refresh_period(
    settings: Settings, period: str | None, reviews: Mapping[str, Review] | None = None, *, by: str, at: datetime | None = None
) -> Refreshed:
    """The add-in's 刷新汇总 without Excel: consolidated results of ``period`` from the store.

    If the inbox holds files the store has not recorded, they are validated and stored first
    (:func:`run_once`, leaving the master workbook file to the nightly run). Then county staff's
    typed ``reviews`` become decisions (:func:`store_reviews`, by ``by`` at ``at``); if any
    was stored the period is consolidated again, so a 退回 shows, and the township's receipt
    is rewritten to say why.
    """
    at = at or now_local()
    county = load_county(settings.config)
    period = str(Period(period or county.latest_period))
    store = open_store(settings.db)
    try:
        files = extract(settings.inbox)
        pending = unrecorded_files(store, files, period)
        run = run_once(settings, period, at, master_file=False) if pending else None
        c = run.consolidation if run else consolidate_period(store, county, period, at, files)
        outcome = store_reviews(store, c, reviews or {}, by=by, at=at)
        receipts: list[Path] = []
        if outcome.stored:
            c = consolidate_period(store, county, period, at, files)
            receipts = publish_decision_receipts(store, county, period, outcome.stored, Path(settings.outbox))
        return Refreshed(c, pending, run, outcome, receipts)
    finally:
        store.close()
