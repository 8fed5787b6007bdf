"""What the worker processes run: reading and checking one file, writing one receipt.

Apart from :mod:`nianbao.pipeline` because a worker imports the module of the function it is
handed: these need the reader, the validator and openpyxl, not pandas, SQLAlchemy or the
master workbook's layout, which made each worker process nearly twice as big (about 130 MB
instead of 75 at 10 000 returns, with two workers besides the run itself). Nothing here may import
pandas (openpyxl brings numpy, which is small).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from nianbao.detail_rows import DetailRows, detail_rows
from nianbao.inbox import InboxFile, local_copy, sha256_of
from nianbao.localtime import local_naive
from nianbao.schemas.county import CountyConfig
from nianbao.schemas.findings import Report
from nianbao.schemas.models import TownshipReturn
from nianbao.schemas.privacy import Masker, mask_text
from nianbao.validate import check_file, internal_finding, mask_report
from nianbao.workbooks.layout import CellMap
from nianbao.workbooks.receipt import ReceiptInfo, receipt_path, write_receipt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What every worker of a run needs: shipped once to each worker process, not per file."""

    county: CountyConfig


@dataclass(frozen=True)
class Received:
    file: InboxFile
    sha256: str
    report: Report
    ret: TownshipReturn | None
    cells: CellMap | None = None  # where each value was read (lineage)
    details: DetailRows | None = None  # the rows the store keeps of ``ret``, made where it was read


def _fingerprint(file: InboxFile) -> tuple[InboxFile, str, Received | None]:
    """(file, sha256, None), or a stand-in digest and the finding if the file cannot be read."""
    try:
        with local_copy(file) as path:
            return file, sha256_of(path), None
    except Exception as exc:
        log.warning("file.internal at read for %s: %s", mask_text(file.name), type(exc).__name__)
        digest = _name_digest(file)
        return file, digest, Received(file, digest, _internal_report(file, "read", exc), None)


def _validate_one(item: tuple[InboxFile, str, Received | None], ctx: RunContext) -> Received:
    """Check one file (in a worker process when there are workers)."""
    file, digest, failed = item
    if failed is not None:
        return failed
    stage = "read"
    try:
        with local_copy(file) as path:
            digest = sha256_of(path)  # what was read, should the file have changed meanwhile
            stage = "validate"
            checked = check_file(path, county=ctx.county, name=file.name)
            stage = "store"
            details = detail_rows(checked.ret, checked.cells) if checked.ret is not None else None
        return Received(file, digest, checked.report, checked.ret, checked.cells, details)
    except Exception as exc:
        log.warning("file.internal at %s for %s: %s", stage, mask_text(file.name), type(exc).__name__)
        return Received(file, digest, _internal_report(file, stage, exc), None)


def _lost_in_worker(item: tuple[InboxFile, str, Received | None], exc: BaseException) -> Received:
    file, digest, _ = item
    log.warning("file.internal at validate for %s: the worker process died", mask_text(file.name))
    return Received(file, digest, _internal_report(file, "validate", exc), None)


def _name_digest(file: InboxFile) -> str:
    """A stand-in fingerprint for a file that could not even be hashed (same place, size, time)."""
    return "unhashed-" + hashlib.sha256(f"{file.url}|{file.size}|{file.modified.isoformat()}".encode()).hexdigest()[:55]


def _internal_report(file: InboxFile, stage: str, exc: BaseException) -> Report:
    return mask_report(Report(file=file.name, readable=False, findings=[internal_finding(file.name, stage, exc)]), Masker())


@dataclass(frozen=True)
class ReceiptJob:
    """One receipt to write: what a worker process needs besides the county."""

    file: InboxFile
    sha256: str
    report: Report
    outbox: Path
    key: str


def _receipt_with_barrier(job: ReceiptJob, ctx: RunContext) -> Path | None:
    file, sha256, report, county, outbox, key = job.file, job.sha256, job.report, ctx.county, job.outbox, job.key
    try:
        return write_township_receipt(file, sha256, report, county, outbox, key)
    except Exception as exc:
        log.warning("file.internal at receipt for %s: %s", report.file, type(exc).__name__)
        problem = internal_finding(report.file, "receipt", exc)
    try:  # the 回执 sheet alone, saying what happened
        failed = report.model_copy(update={"findings": [*report.findings, problem]})
        return write_township_receipt(file, sha256, failed, county, outbox, key, copy_return=False)
    except Exception as again:
        log.error("no receipt for %s: %s", report.file, type(again).__name__)
        return None


def _receipt_lost(job: ReceiptJob, exc: BaseException) -> None:
    log.error("no receipt for %s: the worker process died; it stays due for the next run", job.report.file)
    return None


def write_township_receipt(
    file: InboxFile, sha256: str, report: Report, county: CountyConfig, outbox: Path, key: str,
    decision: str = "", reason: str = "", *, copy_return: bool = True,
) -> Path:
    """The receipt (回执) for one received file, with the county's decision if there is one.

    ``key`` is the receipt's file name (:func:`_receipt_key`); it is made safe again and the
    receipt lands inside ``outbox`` whatever it says.
    """
    town = county.township(report.township or "")
    info = ReceiptInfo(
        township_name=town.name if town else "（未识别的乡镇）",
        period=report.period or "",
        file_name=report.file,
        sha256=sha256,
        received_at=local_naive(file.modified),
        accepted=report.valid,
        decision=decision,
        reason=reason,
        contact=county.contact,
    )
    out = receipt_path(outbox, key)
    if not copy_return:
        return write_receipt(None, report, info, out)
    try:
        with local_copy(file) as source:
            return write_receipt(source if source.exists() else None, report, info, out)
    except FileNotFoundError:  # gone from a remote inbox: the 回执 sheet alone still says why
        return write_receipt(None, report, info, out)
