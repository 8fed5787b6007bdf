"""The plain functions behind the nightly flow: extract → validate → store → consolidate → publish.

The Prefect flow (``flows/nightly.py``) only orchestrates these; the xlwings add-in calls the
same ones. Only the edges touch the inbox, the database and Excel files.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import sys
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from nianbao.changes import compare, snapshot
from nianbao.consolidate import Consolidation, Decision, FileStatus, TownshipStatus, consolidate, local_naive
from nianbao.inbox import InboxFile, check_inbox, list_returns, local_copy, sha256_of
from nianbao.filework import (
    ReceiptJob, Received, RunContext, _internal_report, _lost_in_worker, _receipt_lost, _receipt_with_barrier, _validate_one,
    _fingerprint, write_township_receipt,
)
from nianbao.parallel import Pending, Workers
from nianbao.runlock import run_lock
from nianbao.store import Recorded, Store, open_store
from nianbao.schemas.privacy import mask_text
from nianbao.settings import Settings
from nianbao.schemas.county import CountyConfig, load_county
from nianbao.schemas.findings import Finding, Report
from nianbao.schemas.models import Period, TownshipReturn
from nianbao.workbooks.layout import a1
from nianbao.workbooks.master import write_master
from nianbao.workbooks.safe_text import safe_filename
from nianbao.workbooks.master_layout import NB_STATUS, Review, kept_reviews, master_sheets, plain
from nianbao.workbooks.receipt import receipt_name

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
    reviews: "FileReviews | None" = None  # 审核意见 saved in the master workbook file, stored by this run
    usual_master: Path | None = None  # the usual name; differs from ``master`` when that was locked


def now_local() -> datetime:
    """The run time as county staff read it (naive Beijing time, what Excel can hold)."""
    return local_naive(datetime.now(timezone.utc))


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


def extract(inbox: str, *, required: bool = False) -> list[InboxFile]:
    """The returns in the inbox. ``required``: a missing inbox raises :class:`InboxMissing`
    (a run publishes nothing from it); the add-in's refresh reads the database without one."""
    if required:
        check_inbox(inbox)
    return list_returns(inbox)


def run_workers(county: CountyConfig, processes: int | None = 0) -> Workers[RunContext]:
    """The worker processes of one run (``processes`` 0: one per core; 1: none, all inline).

    Each worker imports :mod:`nianbao.filework` itself; the forkserver preloads nothing. Measured
    over 3 200 returns with two workers: preloading it made the forkserver 61 MB instead of 13 and
    each worker 64 MB instead of 76, but shared only ~20 MB of a worker's pages (Python's
    reference counts write to the rest), so the tree's RSS was 24 MB higher for the same PSS, and
    the forkserver's 61 MB stayed while the workers are closed for the consolidation.
    """
    return Workers(processes, RunContext(county))


def _workers_for(county: CountyConfig, workers: Workers[RunContext] | None) -> Workers[RunContext]:
    """``workers``, which must have been started for ``county``; without them, none (all inline)."""
    if workers is None:
        return run_workers(county, 1)
    if workers.context.county is not county:
        raise ValueError("workers were started for another county")
    return workers


def validate_files(
    files: Iterable[InboxFile], county: CountyConfig, known: Container[str], workers: Workers[RunContext] | None = None
) -> list[Received]:
    """Validate the files not seen before, on ``workers`` (from :func:`run_workers` for the
    same county) if given, else here one by one. One bad file yields a finding, never an exception.

    The barrier is per file: whatever goes wrong while copying, hashing, reading or checking
    one file becomes a ``file.internal`` finding on that file, and the others go on; a file
    that kills its worker process gets that finding too (:class:`nianbao.parallel.Workers`).
    Files are fingerprinted here first, so a file recorded before is skipped without reading it
    and ``known`` (which may be the database) never leaves this process.
    """
    return start_validation(files, county, known, workers).result()


def start_validation(
    files: Iterable[InboxFile], county: CountyConfig, known: Container[str], workers: Workers[RunContext] | None = None
) -> Pending[Received]:
    """:func:`validate_files`, started: the workers read while the caller goes on."""
    workers = _workers_for(county, workers)
    todo = [item for item in map(_fingerprint, files) if item[1] not in known]
    return workers.submit(_validate_one, todo, lost=_lost_in_worker)


def checking_batches(
    files: Sequence[InboxFile], county: CountyConfig, known: Container[str], size: int, workers: Workers[RunContext] | None = None
) -> Iterator[tuple[Sequence[InboxFile], Pending[Received]]]:
    """(batch, its validation under way) for each batch of ``files``, the next batch always
    started before one is handed out: the workers read it while this process stores the last.

    A file whose content is also in the batch before is read twice and recorded once (the
    store knows it by then), exactly as a duplicate within one batch.
    """
    ahead: tuple[Sequence[InboxFile], Pending[Received]] | None = None
    for batch in batches(files, size):
        started = (batch, start_validation(batch, county, known, workers))
        if ahead is not None:
            yield ahead
        ahead = started
    if ahead is not None:
        yield ahead


def store_files(store: Store, received: Sequence[Received]) -> list[Stored]:
    """Record a batch in one transaction; if that fails, file by file, so one file the database
    refuses is recorded as ``file.internal`` (its receipt says so) and the rest are kept."""
    items = [_store_item(r) for r in received]
    try:
        recorded = store.record_many(items)
    except Exception:
        recorded, kept = [], []
        for r, item in zip(received, items):
            try:
                rec = store.record_many([item])[0]
            except Exception as exc:
                log.warning("file.internal at store for %s: %s", r.report.file, type(exc).__name__)
                r = Received(r.file, r.sha256, _internal_report(r.file, "store", exc), None)
                rec = store.record_many([(r.report, None, item[2])])[0]
            recorded.append(rec)
            kept.append(r)
        received = kept
    return [  # a file whose values the database refused carries that finding (store.refused)
        Stored(r.file, r.sha256, r.report.model_copy(update={"findings": [*r.report.findings, rec.finding]}) if rec.finding else r.report, rec)
        for r, rec in zip(received, recorded)
    ]


def _store_item(r: Received) -> tuple[Report, TownshipReturn | None, dict]:
    """What the store keeps of a file: the masked report, the masked name and place."""
    file = dict(sha256=r.sha256, size=r.file.size, file_name=r.report.file, source=mask_text(r.file.url), received_at=r.file.modified,
                cells=r.cells, details=r.details)
    return r.report, r.ret, file


def consolidate_period(
    store: Store, county: CountyConfig, period: str, as_of: datetime, inbox_files: Sequence[InboxFile] = ()
) -> Consolidation:
    """Consolidate from the store (never by re-reading returns) and record the run.

    ``inbox_files`` are the files now in the inbox: those that name no township are listed
    among the findings for as long as they stay there.
    """
    run_id = store.start_run(period, at=as_of)
    c = consolidate(county, store.load_inputs(period, sources=[mask_text(f.url) for f in inbox_files]), as_of)
    give_back_memory()  # the inputs (a million rows at 10 000 returns) are gone
    store.finish_run(run_id, c.run_counts())
    c = with_changes(store, c)
    give_back_memory()  # and the two snapshots compared
    return c


def give_back_memory() -> None:
    """Return the heap pages freed objects left to the operating system. glibc keeps them for
    reuse: after the consolidation's inputs are dropped, about 50 MB at 10 000 returns would
    stay with the process while the master workbook and receipts are written. Elsewhere
    (Windows, macOS, musl) nothing happens."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


def with_changes(store: Store, c: Consolidation) -> Consolidation:
    """``c`` with what changed since the period's previous publish (see :func:`record_publish`)."""
    return dataclasses.replace(c, changes=compare(store.last_publish(c.period), snapshot(c)))


def record_publish(store: Store, c: Consolidation) -> None:
    """Remember what the master workbook now shows, once it is written: the next run's
    变动情况 compares with it (a run killed before the file exists published nothing)."""
    store.save_publish(c.period, snapshot(c), c.as_of)


def publish_master(c: Consolidation, path: Path) -> Path:
    """The master workbook at ``path``, or beside it under a time-stamped name when ``path`` is
    open (locked) in Excel or WPS on Windows (see :func:`nianbao.workbooks.master.write_master`)."""
    return write_master(c, path)


def publish(
    store: Store, county: CountyConfig, c: Consolidation, master: Path | None, outbox: Path,
    inbox_files: Sequence[InboxFile] = (), workers: Workers[RunContext] | None = None,
) -> tuple[Path | None, list[Path]]:
    """The master workbook at ``master`` (None: leave it alone) and the receipts owed, at the same
    time: the workers write receipts while this process writes the master workbook.

    Returns where the master workbook was written (see :func:`publish_master`) and the receipts.
    """
    receipts = start_receipts(store, county, outbox, inbox_files, c, workers)
    written = None
    if master is not None:
        written = publish_master(c, master)
        record_publish(store, c)
    return written, receipts.finish()


def publish_receipts(
    store: Store, county: CountyConfig, outbox: Path, inbox_files: Sequence[InboxFile] = (), c: Consolidation | None = None,
    workers: Workers[RunContext] | None = None,
) -> list[Path]:
    """The receipts the store says are owed: one per township and period (the latest file wins),
    written on ``workers`` (from :func:`run_workers` for the same county) if given.

    With the run's consolidation ``c``, a receipt also carries the county's warnings about that
    file (outliers across townships), marked 已说明 where the township explained them.

    "Receipt due" is recorded with each new submission and marked done here once the file
    exists, so a run killed between the store commit and this step loses no receipt: the next
    run writes it. The barrier is per receipt: a failure becomes a ``file.internal`` finding in
    a receipt of the 回执 sheet alone, and the other receipts are written; a receipt whose worker
    died stays due for the next run.
    """
    return start_receipts(store, county, outbox, inbox_files, c, workers).finish()


@dataclass
class ReceiptsUnderWay:
    """Receipts being written (:func:`start_receipts`); :meth:`finish` waits and records them done."""

    store: Store
    writing: Pending[Path | None] | None = None
    owed: list[list[int]] = field(default_factory=list)  # the submissions each receipt answers

    def finish(self) -> list[Path]:
        if self.writing is None:
            return []
        written = self.writing.result()
        # One commit for all: a run killed before it rewrites the same receipts next time.
        self.store.receipts_done([sid for path, ids in zip(written, self.owed) if path is not None for sid in ids])
        return [path for path in written if path is not None]


def start_receipts(
    store: Store, county: CountyConfig, outbox: Path, inbox_files: Sequence[InboxFile] = (), c: Consolidation | None = None,
    workers: Workers[RunContext] | None = None,
) -> ReceiptsUnderWay:
    """:func:`publish_receipts`, started."""
    due = store.receipts_due()
    if due.empty:
        return ReceiptsUnderWay(store)
    workers = _workers_for(county, workers)
    here = {mask_text(f.url): f for f in inbox_files}
    latest: dict[str, list] = {}
    for row in due.to_dict("records"):
        key = _receipt_key(row["township_code"], row["period"], row["sha256"], county, row["file_name"])
        latest.setdefault(key, []).append(row)
    jobs, owed, by_file = [], [], county_findings(c)
    for key, rows in sorted(latest.items()):
        row = max(rows, key=lambda r: (pd.Timestamp(r["received_at"]), r["submission_id"]))
        report = with_county_findings(_stored_report(row), c, by_file)
        file = here.get(row["source"]) or InboxFile(row["source"], row["file_name"], int(row["size"]), pd.Timestamp(row["received_at"]).to_pydatetime())
        jobs.append(ReceiptJob(file, row["sha256"], report, outbox, key))
        owed.append([r["submission_id"] for r in rows])
    return ReceiptsUnderWay(store, workers.submit(_receipt_with_barrier, jobs, lost=_receipt_lost), owed)


def county_findings(c: Consolidation | None) -> dict[tuple[str, str], list[Finding]]:
    """The consolidation's explainable warnings (outliers across townships), by (township, file):
    grouped once per run, not filtered once per receipt."""
    from nianbao.outliers import EXPLAINABLE

    if c is None:
        return {}
    f = c.findings
    out: dict[tuple[str, str], list[Finding]] = {}
    for r in f[f["code"].isin(EXPLAINABLE)].to_dict("records"):
        finding = Finding(**{k: (plain(r.get(k)) or None) if k not in ("code", "severity", "message") else r[k] for k in Finding.model_fields})
        out.setdefault((r["township_code"], r["file_name"]), []).append(finding)
    return out


def with_county_findings(report: Report, c: Consolidation | None, by_file: Mapping[tuple[str, str], list[Finding]] | None = None) -> Report:
    """``report`` plus the consolidation's explainable warnings about the same file of the same
    period (``by_file``: :func:`county_findings` of ``c``, if already at hand)."""
    if c is None or report.period != c.period or not report.township:
        return report
    extra = (county_findings(c) if by_file is None else by_file).get((report.township, report.file), [])
    return report.model_copy(update={"findings": [*report.findings, *extra]}) if extra else report


def _stored_report(row: Mapping) -> Report:
    return Report(
        file=str(row["file_name"]),
        township=row["township_code"] or None,
        period=row["period"] or None,
        readable=row["status"] != FileStatus.UNREADABLE,
        findings=[Finding(**{k: v for k, v in f.items() if k in Finding.model_fields}) for f in row["findings"] or []],
    )


def _receipt_key(township: str | None, period: str | None, sha256: str, county: CountyConfig, file_name: str = "") -> str:
    """What a receipt file is named after: the township of the county config and the period,
    or, for a file naming no known township, a generated name: the (masked) file name made
    safe as a decoration, and the file's fingerprint that makes it unique."""
    town = county.township(township or "")
    if town is not None and period:
        return receipt_name(town.code, town.name, period)
    return f"未识别_{safe_filename(Path(file_name).stem, '文件')[:30]}_{sha256[:8]}_回执.xlsx"


def clean_stale_temp(*folders: Path | str) -> int:
    """Remove the temporary files a killed run left beside the master workbook and receipts
    (``save_atomically`` names them ``.~<name>.<random>.xlsx.tmp``); returns how many."""
    removed = 0
    for folder in {Path(f) for f in folders}:
        if folder.is_dir():
            for tmp in folder.glob(".~*.xlsx.tmp"):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


def ingest(
    store: Store, county: CountyConfig, files: Sequence[InboxFile], batch_size: int,
    on_batch: Callable[[int], None] | None = None, workers: Workers[RunContext] | None = None,
) -> list[Stored]:
    """Validate (on ``workers`` if given) and record, in batches, the files whose content the
    store has not seen; ``on_batch`` is told how many files each batch held (a progress bar)."""
    return list(ingesting(store, county, files, batch_size, on_batch, workers))


def ingesting(
    store: Store, county: CountyConfig, files: Sequence[InboxFile], batch_size: int,
    on_batch: Callable[[int], None] | None = None, workers: Workers[RunContext] | None = None,
) -> Iterator[Stored]:
    """:func:`ingest`, a batch at a time: a caller that only counts never holds every report."""
    for batch, checking in checking_batches(files, county, store.known(), batch_size, workers):
        yield from store_files(store, checking.result())
        if on_batch:
            on_batch(len(batch))


def run_once(
    settings: Settings, period: str | None = None, as_of: datetime | None = None, *, master_file: bool = True,
    on_start: Callable[[int], None] | None = None, on_batch: Callable[[int], None] | None = None,
) -> RunResult:
    """The whole job without Prefect: ``nianbao run`` without a Prefect server, the add-in,
    and the benchmark's baseline. ``on_start`` is told how many files the inbox holds and
    ``on_batch`` how many each batch held (a progress bar). Returns are read and receipts
    written on ``settings.processes`` worker processes when there are enough of them.

    ``master_file=False`` leaves the master workbook file alone (the add-in refreshes the
    book open in Excel instead, and stores the 审核意见 typed in it itself); otherwise the
    审核意见 saved in the master workbook file are stored first (:func:`take_file_reviews`).
    """
    county = load_county(settings.config)
    period = period or county.latest_period
    as_of = as_of or now_local()
    clean_stale_temp(settings.outbox, settings.master_path(county, period).parent)
    store = open_store(settings.db)
    try:
        with run_lock(store, county.county_code, period, purpose="汇总"), run_workers(county, settings.processes) as workers:
            files = extract(settings.inbox, required=master_file)
            if on_start:
                on_start(len(files))
            # Only the counts of what was stored are kept, not every report (10 000 at 10 000 returns).
            counted = tally(ingesting(store, county, files, settings.batch_size, on_batch, workers))
            workers.close()  # idle through the consolidation, the run's biggest moment: the receipts start them again
            c = consolidate_period(store, county, period, as_of, files)
            path, reviews = settings.master_path(county, period), FileReviews()
            if master_file:
                reviews = take_file_reviews(store, county, c, path, files, Path(settings.outbox), as_of)
                c = reviews.consolidation or c
            master, receipts = publish(store, county, c, path if master_file else None, Path(settings.outbox), files, workers)
            result = RunResult(period, master, receipts + reviews.receipts, consolidation=c, reviews=reviews, usual_master=path)
            return summarize(result, files, counted)
    finally:
        store.close()


@dataclass(frozen=True)
class Tally:
    """What a run stored, counted: the files new to the store, and those of them accepted.
    Runs keep this, not the reports (10 000 of them at 10 000 returns)."""

    new: int = 0
    accepted: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.new + other.new, self.accepted + other.accepted)


def tally(stored: Iterable[Stored]) -> Tally:
    """The counts of ``stored`` (read once, as it comes)."""
    new = accepted = 0
    for s in stored:
        if not s.recorded.already_known:
            new += 1
            accepted += bool(s.report.valid)
    return Tally(new, accepted)


def summarize(result: RunResult, files: Sequence[InboxFile], counted: Tally) -> RunResult:
    """``result`` with the counts of ``files`` and of what was stored."""
    result.seen = len(files)
    result.new, result.accepted = counted.new, counted.accepted
    result.rejected = counted.new - counted.accepted
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
    rest = [f for f in files if _file_key(mask_text(f.url), f.size, f.modified) not in seen]
    if not rest:
        return []
    digests = []
    for file in rest:
        with local_copy(file) as path:
            digests.append(sha256_of(path))
    known = store.known_among(digests)
    return [file for file, digest in zip(rest, digests) if digest not in known]


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
        key = _receipt_key(d.township_code, str(Period(period)), str(sub["sha256"]), county)
        paths.append(write_township_receipt(file, str(sub["sha256"]), report, county, outbox, key, d.decision, d.reason))
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
        with run_lock(store, county.county_code, period, purpose="刷新汇总"):
            return _refresh_locked(store, settings, county, period, reviews, by=by, at=at)
    finally:
        store.close()


def _refresh_locked(
    store: Store, settings: Settings, county: CountyConfig, period: str, reviews: Mapping[str, Review] | None, *, by: str, at: datetime
) -> Refreshed:
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


# --- 审核意见 saved in the master workbook file (Excel without the add-in, WPS, LibreOffice) -------


@dataclass
class FileReviews:
    """What :func:`take_file_reviews` did with the entries saved in the master workbook file."""

    outcome: ReviewOutcome = field(default_factory=lambda: ReviewOutcome())
    by: str = ""
    at: datetime | None = None
    consolidation: Consolidation | None = None  # consolidated again after a decision was stored
    receipts: list[Path] = field(default_factory=list)  # receipts rewritten for the decisions


def take_file_reviews(
    store: Store, county: CountyConfig, c: Consolidation, path: Path, files: Sequence[InboxFile], outbox: Path, as_of: datetime
) -> FileReviews:
    """Store the 审核意见 county staff typed into the master workbook file and saved, exactly as
    the add-in's button stores them (:func:`store_reviews`): who is the file's last-modified-by,
    when is its saved time. After a decision is stored the period is consolidated again and the
    township's receipt rewritten to say why."""
    from nianbao.workbooks.master import read_master_reviews, saved_by

    if not path.exists():
        return FileReviews()
    reviews = read_master_reviews(path)
    if not reviews:
        return FileReviews()
    by, at = saved_by(path)
    out = FileReviews(store_reviews(store, c, reviews, by=by, at=at), by, at)
    if out.outcome.stored:
        out.consolidation = consolidate_period(store, county, c.period, as_of, files)
        out.receipts = publish_decision_receipts(store, county, c.period, out.outcome.stored, outbox)
    return out
