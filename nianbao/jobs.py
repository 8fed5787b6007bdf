"""``nianbao run`` and ``nianbao serve``: the consolidation once, or on a schedule, with a quiet
Chinese console.

A plain ``run`` does not start Prefect's temporary server (most of a run's time when nothing
is new): when a Prefect server is running for the office folder (``serve`` started it, or
``PREFECT_API_URL`` names one) the Prefect flow runs against it and shows in the run history;
otherwise the same plain functions run without Prefect (:func:`nianbao.pipeline.run_once`)
and the run is recorded in the database only.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nianbao.console import console
from nianbao.office import Office
from nianbao.settings import Settings

OK, FAILED, BAD_SETTINGS = 0, 1, 2
LOCKED = 75  # nianbao.runlock.EXIT_LOCKED (sysexits EX_TEMPFAIL): another run holds the lock


def _checked(settings: Settings) -> bool:
    """Config and inbox usable; otherwise say why in Chinese (nothing is published)."""
    from nianbao.inbox import InboxMissing, check_inbox
    from nianbao.schemas.county import ConfigError, load_county

    try:
        load_county(settings.config)
        check_inbox(settings.inbox)
    except (ConfigError, InboxMissing) as exc:
        console.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        return False
    return True


def _failed(exc: BaseException, office: Office) -> int:
    """A run that failed: a Chinese line for the console (no traceback)."""
    from nianbao.workbooks.master import MasterWorkbookError

    if isinstance(exc, MasterWorkbookError):
        reason = str(exc)
    elif isinstance(exc, PermissionError):
        reason = f"没有权限读写「{exc.filename or '文件'}」：请检查文件是否被打开、文件夹的访问权限"
    elif isinstance(exc, OSError):
        reason = f"读写文件或网络位置时出错（{exc.strerror or type(exc).__name__}）"
    else:
        reason = f"程序内部错误（{type(exc).__name__}）"
    console.print(f"[red]汇总未完成：{escape(reason)}。日志：{office.log_file}[/]", soft_wrap=True)
    return FAILED


def run_job(settings: Settings, office: Office, period: str | None) -> int:
    """One run, now; returns the exit code."""
    if not _checked(settings):
        return BAD_SETTINGS
    from nianbao.prefect_office import running_api

    from nianbao.runlock import RunLocked
    from nianbao.store import StoreError

    api = running_api(office)
    try:
        with _run_locked(settings, period):
            result = _prefect_run(settings, office, period, api) if api else _plain_run(settings, period)
    except RunLocked as exc:
        console.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        return LOCKED
    except StoreError as exc:
        console.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        return BAD_SETTINGS
    except Exception as exc:
        return _failed(exc, office)
    print_summary(result, settings)
    where = api.removesuffix("/api") if api else None
    console.print(f"运行记录：已记入 Prefect（{where}）" if where else "运行记录：已记入数据库（未运行 nianbao serve，本次不进入 Prefect 运行记录）")
    return OK


@contextmanager
def _run_locked(settings: Settings, period: str | None):
    """Open (and upgrade) the store and take the run lock before anything is read; the flow or
    run_once takes the same lock again, re-entrantly. A second run waits up to
    ``$NIANBAO_LOCK_WAIT`` seconds, then :class:`~nianbao.runlock.RunLocked` names the holder."""
    from nianbao.runlock import run_lock
    from nianbao.schemas.county import load_county
    from nianbao.store import open_store

    county = load_county(settings.config)
    store = open_store(settings.db)
    try:
        with run_lock(store, county.county_code, period or county.latest_period, purpose="汇总（nianbao run）"):
            yield
    finally:
        store.close()


def _plain_run(settings: Settings, period: str | None):
    from nianbao.pipeline import run_once

    columns = (TextColumn("审核报表"), BarColumn(), MofNCompleteColumn(), TextColumn("用时"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("审核报表", total=None)
        return run_once(
            settings, period,
            on_start=lambda n: progress.update(bar, total=n),
            on_batch=lambda n: progress.advance(bar, n),
        )


def _prefect_run(settings: Settings, office: Office, period: str | None, api: str):
    from nianbao.prefect_office import use_office

    use_office(office)  # before Prefect is imported: its log lines go to the office's log file
    os.environ["PREFECT_API_URL"] = api
    logging.captureWarnings(True)
    from nianbao.flows.nightly import nightly

    return nightly(**flow_parameters(settings, period), show_progress=True)


def flow_parameters(settings: Settings, period: str | None) -> dict:
    return {
        "period": period, "config": str(Path(settings.config).resolve()), "inbox": settings.inbox, "db": settings.db,
        "out": settings.out, "outbox": settings.outbox, "batch_size": settings.batch_size, "processes": settings.processes,
    }


def print_summary(result, settings: Settings) -> None:
    """The Chinese summary of a run: statuses, files, where the master and receipts are, what was new."""
    from nianbao.summary import changes_line, run_notes, status_line

    console.print(f"[bold]{status_line(result.consolidation)}[/]")
    console.print(f"变动：{escape(changes_line(result.consolidation))}", soft_wrap=True)
    if result.seen == 0:
        console.print(f"[yellow]收件箱中没有报表文件：{escape(str(settings.inbox))}[/]", soft_wrap=True)
    else:
        console.print(f"收件箱共有报表文件 {result.seen} 个，本次新文件 {result.new} 个（接收 {result.accepted}，退回 {result.rejected}）")
    if result.master is not None:
        console.print(f"汇总工作簿：[cyan]{escape(str(Path(result.master).resolve()))}[/]", soft_wrap=True)
    outbox = Path(settings.outbox)
    total = len(list(outbox.glob("*_回执.xlsx"))) if outbox.is_dir() else 0
    console.print(f"回执 {total} 份（本次新增 {len(result.receipts)} 份）：[cyan]{escape(str(outbox.resolve()))}[/]", soft_wrap=True)
    for note in run_notes(result):
        console.print(f"[yellow]{escape(note)}[/]", soft_wrap=True)


# --- serve ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    cron: str = "0 2 * * *"
    timezone: str = "Asia/Shanghai"
    every: int | None = None  # seconds; instead of cron

    def prefect(self):
        from prefect.schedules import Cron, Interval

        return Interval(timedelta(seconds=self.every)) if self.every else Cron(self.cron, timezone=self.timezone)

    def period(self, now: datetime | None = None) -> timedelta:
        """One schedule period: the interval, or the time between the cron's next two runs."""
        if self.every:
            return timedelta(seconds=self.every)
        from zoneinfo import ZoneInfo

        from cronsim import CronSim

        it = CronSim(self.cron, (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(self.timezone)))
        first = next(it)
        return next(it) - first

    def describe(self) -> str:
        return f"每 {self.every} 秒" if self.every else f"{self.cron}（{self.timezone}）"


def catch_up_due(settings: Settings, period: timedelta, now: datetime | None = None) -> tuple[bool, datetime | None]:
    """Whether the last successful run is older than one schedule period (or there was none),
    and when it finished."""
    from nianbao.store import open_store

    store = open_store(settings.db)
    try:
        last = store.last_run()
    finally:
        store.close()
    if last is None or last.finished_at is None:
        return True, None
    now = now or datetime.now(timezone.utc)
    return now - last.finished_at > period, last.finished_at


def _stop_on_sigterm() -> None:
    """A service manager stops ``serve`` with SIGTERM: unwind like Ctrl+C so the server stops too."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def serve_job(settings: Settings, office: Office, period: str | None, schedule: Schedule, *, port: int, history_days: int) -> int:
    """Serve the nightly deployment until stopped; returns the exit code.

    Prefect's runner serves in a thread of its own, so that Ctrl+C and SIGTERM reach this
    thread (the runner would otherwise take SIGTERM and may hang on it): here the server is
    supervised (restarted if it dies) and, on stop, the server and the flow-run processes are
    stopped before the process ends.
    """
    if not _checked(settings):
        return BAD_SETTINGS
    from nianbao.prefect_office import LocalServer, use_office

    use_office(office, history_days)
    logging.captureWarnings(True)  # Prefect's warnings to its log file, not the console
    server = None
    if not os.environ.get("PREFECT_API_URL", "").strip():
        server = LocalServer(office, port)
        with console.status("正在启动本机 Prefect 服务器……"):
            try:
                server.start()
            except RuntimeError as exc:
                console.print(f"[red]{exc}[/]", soft_wrap=True)
                return FAILED
        os.environ["PREFECT_API_URL"] = server.api_url
    _stop_on_sigterm()
    ui = server.ui_url if server else os.environ["PREFECT_API_URL"].rstrip("/").removesuffix("/api")
    code = OK
    try:
        from nianbao.flows.nightly import nightly

        params = flow_parameters(settings, period)
        console.print(f"每晚汇总已启动：{schedule.describe()}，收件箱 {escape(settings.inbox)}。按 Ctrl+C 停止。", soft_wrap=True)
        console.print(f"运行记录：在浏览器中打开 [cyan]{ui}[/]（每次运行的步骤、日志和“nianbao-summary”汇总摘要；保留 {history_days} 天）", soft_wrap=True)
        console.print(f"日志文件：{office.log_file}", soft_wrap=True)
        _drop_missed_runs()
        _catch_up(nightly, params, settings, schedule)
        runner = threading.Thread(target=_serve_deployment, args=(nightly, params, schedule), name="nianbao-runner", daemon=True)
        runner.start()
        while runner.is_alive():
            runner.join(1)
            _supervise(server)
        console.print("[red]每晚汇总意外停止，详见日志。[/]")
        code = FAILED
    except (KeyboardInterrupt, SystemExit):  # Ctrl+C, or SIGTERM from a service manager
        pass
    except Exception as exc:  # e.g. the server refused a request: the details go to the log
        logging.getLogger("nianbao.serve").exception("serve failed")
        console.print(f"[red]每晚汇总出错（{type(exc).__name__}），详见日志 {office.log_file}[/]", soft_wrap=True)
        code = FAILED
    finally:
        _stop_children()
        if server is not None:
            server.stop()
        console.print("每晚汇总已停止" + ("，本机 Prefect 服务器已关闭。" if server else "。"))
    _exit_now(code)  # the runner's thread and its executors must not hold the process open
    return code


DEPLOYMENT = "nianbao-nightly"


def _drop_missed_runs() -> None:
    """Delete the deployment's scheduled runs whose time has passed (the machine was off, or
    serve was not running): the runner would otherwise start them all at once. The catch-up
    run stands in for them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    from prefect.client.schemas.sorting import FlowRunSort

    missed = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(timezone.utc)),
    )
    dropped = 0
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(
                flow_run_filter=missed,
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[DEPLOYMENT])),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=200,
            )
            for run in runs:
                client.delete_flow_run(run.id)
            dropped += len(runs)
            if len(runs) < 200:
                break
    if dropped:
        console.print(f"已取消 {dropped} 次错过的定时运行（由下面的补跑代替）。")


def _serve_deployment(nightly, params: dict, schedule: Schedule) -> None:
    try:
        # One run at a time: runs of one office share its database and folders.
        nightly.serve(name=DEPLOYMENT, schedules=[schedule.prefect()], parameters=params, print_starting_message=False, limit=1)
    except BaseException:  # the reason goes to the log file; the main thread reports the stop
        logging.getLogger("nianbao.serve").exception("the runner stopped")


def _supervise(server) -> None:
    """Restart the local Prefect server if it died (same port, same database)."""
    if server is None or server.process is None or server.process.poll() is None:
        return
    console.print("[yellow]本机 Prefect 服务器意外退出，正在重新启动……[/]")
    server.stop()
    server.start()


def _stop_children(grace: float = 10.0) -> None:
    """The flow-run processes Prefect's runner started (multiprocessing children)."""
    import multiprocessing

    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(grace / max(1, len(children)))
        if child.is_alive():
            child.kill()


def _exit_now(code: int) -> None:
    """End the process once everything it started is stopped, without waiting for threads."""
    logging.shutdown()
    console.file.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _catch_up(nightly, params: dict, settings: Settings, schedule: Schedule) -> None:
    """Run once now when the machine was off at the scheduled time (the last successful run is
    older than one schedule period); say so."""
    due, last = catch_up_due(settings, schedule.period())
    if not due:
        return
    from nianbao.consolidate import local_naive

    when = f"上次成功汇总在 {local_naive(last):%Y-%m-%d %H:%M}，已超过一个运行周期" if last else "还没有成功汇总过"
    console.print(f"{when}：现在先补跑一次。", soft_wrap=True)
    try:
        result = nightly(**params)
    except Exception as exc:  # the schedule still runs; the reason is in the log and the UI
        console.print(f"[red]补跑未完成（{type(exc).__name__}），详见运行记录和日志；按时间表继续运行。[/]")
        return
    console.print(f"补跑完成：汇总工作簿 {escape(str(result.master))}", soft_wrap=True)
