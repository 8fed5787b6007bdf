"""The nightly consolidation flow: extract → validate → store → consolidate → publish.

Tasks are short verbs over ``nianbao.pipeline``; files are validated and stored in batches (one
task per batch, not per file) so orchestration stays a small share of the run and only one
batch of parsed returns is in memory at a time. Within a batch, files are read on every core
(``nianbao.parallel``: worker processes started once per run, which also write the receipts).
Retries with backoff only where the network is: listing the inbox and publishing.

Task inputs are wrapped in ``quote``: Prefect otherwise walks every element of every input on
every call (the county config, the batch, the consolidated tables), a cost that grew with the
county and the run, to hundreds of milliseconds per call at 10 000 townships.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote
from rich.progress import Progress

from nianbao import pipeline
from nianbao.consolidate import Consolidation
from nianbao.inbox import InboxFile
from nianbao.parallel import Pending, Workers
from nianbao.pipeline import WORK, FileReviews, Received, RunContext, RunResult, Tally
from nianbao.runlock import run_lock
from nianbao.settings import Settings
from nianbao.store import Store, open_store
from nianbao.summary import findings_table, summary_markdown
from nianbao.schemas.county import CountyConfig, load_county

FINDINGS_ARTIFACT = "nianbao-findings"
SUMMARY_ARTIFACT = "nianbao-summary"


@task(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2), cache_policy=NONE)
def extract(inbox: str) -> list[InboxFile]:
    with WORK.stage("extract"):
        return pipeline.extract(inbox, required=True)


@task(cache_policy=NONE)
def validate_and_store(checking: Pending[Received], store: Store) -> Tally:
    """Wait for a batch the workers are reading (the next one is already under way), then store
    it. Returns the batch's counts: the reports are in the store, and a task's result lives on."""
    with WORK.stage("validate"):
        received = checking.result()
    with WORK.stage("store"):
        return pipeline.tally(pipeline.store_files(store, received))


@task(cache_policy=NONE)
def consolidate(store: Store, county: CountyConfig, period: str, as_of: datetime, files: list[InboxFile]) -> Consolidation:
    with WORK.stage("consolidate"):
        return pipeline.consolidate_period(store, county, period, as_of, files)


@task(cache_policy=NONE)
def take_file_reviews(store: Store, county: CountyConfig, c: Consolidation, settings: Settings, files: list[InboxFile]) -> FileReviews:
    """The 审核意见 saved in the master workbook file (Excel without the add-in, WPS, LibreOffice)."""
    with WORK.stage("reviews"):
        path = settings.master_path(county, c.period)
        return pipeline.take_file_reviews(store, county, c, path, files, Path(settings.outbox), c.as_of)


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=2), cache_policy=NONE)
def publish(
    c: Consolidation, store: Store, county: CountyConfig, settings: Settings, files: list[InboxFile],
    reviews: FileReviews | None = None, workers: Workers[RunContext] | None = None,
) -> RunResult:
    with WORK.stage("publish"):
        usual = settings.master_path(county, c.period)
        master, receipts = pipeline.publish(store, county, c, usual, Path(settings.outbox), files, workers)
        result = RunResult(c.period, master, receipts + (reviews.receipts if reviews else []), consolidation=c, reviews=reviews, usual_master=usual)
    create_table_artifact(key=FINDINGS_ARTIFACT, table=findings_table(c), description=f"{c.county_name}{c.period} 审核问题")
    create_markdown_artifact(key=SUMMARY_ARTIFACT, markdown=summary_markdown(c, result), description=f"{c.county_name}{c.period} 汇总")
    return result


@flow(name="nianbao-nightly", log_prints=True)
def nightly(
    period: str | None = None,
    config: str = Settings.config,
    inbox: str = Settings.inbox,
    db: str = Settings.db,
    out: str = Settings.out,
    outbox: str = Settings.outbox,
    batch_size: int = Settings.batch_size,
    processes: int = Settings.processes,
    show_progress: bool = False,
) -> RunResult:
    """``processes``: worker processes that read returns and write receipts (0: one per core)."""
    settings = Settings(config=config, inbox=inbox, db=db, out=out, outbox=outbox, batch_size=batch_size, processes=processes)
    logger = get_run_logger()
    county = load_county(settings.config)
    period = period or county.latest_period
    pipeline.clean_stale_temp(settings.outbox, settings.master_path(county, period).parent)
    store = open_store(settings.db)
    try:
        with run_lock(store, county.county_code, period, purpose="汇总流程"), pipeline.run_workers(county, processes) as workers:
            files = extract(settings.inbox)
            known = store.known()  # one indexed look-up per inbox file, not the whole history
            counted = Tally()  # as in run_once: the counts of what was stored, not the reports
            with Progress(disable=not show_progress, transient=True) as progress:
                bar = progress.add_task("审核报表", total=len(files))
                for batch, checking in pipeline.checking_batches(files, county, known, settings.batch_size, workers):
                    counted += validate_and_store(quote(checking), quote(store))
                    progress.advance(bar, len(batch))
            workers.close()  # idle through the consolidation, the run's biggest moment: the receipts start them again
            c = consolidate(quote(store), quote(county), period, pipeline.now_local(), quote(files))
            reviews = take_file_reviews(quote(store), quote(county), quote(c), settings, quote(files))
            c = reviews.consolidation or c
            done = publish(quote(c), quote(store), quote(county), settings, quote(files), quote(reviews), quote(workers))
            result = pipeline.summarize(done, files, counted)
        logger.info("收到 %d 个文件，新文件 %d 个（接收 %d，退回 %d）；汇总表：%s", result.seen, result.new, result.accepted, result.rejected, result.master)
        return result
    finally:
        store.close()
