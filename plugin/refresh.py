"""The 刷新汇总 button: bring the county master workbook open in Excel up to date.

The ribbon button runs ``import nianbao; nianbao.main()``, which calls this module's main() (see ``plugin/ADDIN.md``); :func:`main`
calls :func:`refresh` on the calling book and turns any failure into a Chinese message box.
:func:`refresh` is a thin shell over the functions the nightly flow uses
(:func:`nianbao.pipeline.refresh_period`); what is Excel-specific stays here:

1. settings: the ``settings`` argument, else :func:`nianbao.settings.load_settings` from the
   settings file found by :func:`nianbao.settings.settings_file` (``$NIANBAO_SETTINGS``, then
   ``nianbao.toml`` beside the workbook, then ``~/.nianbao/nianbao.toml``) with ``NIANBAO_*``
   environment variables over it;
2. the book's period (defined name ``NB_PERIOD``, else the 汇总 title, else the county config's
   latest period) and a check that the book belongs to the configured county (``NB_COUNTY_CODE``);
3. the 审核意见/审核理由 county staff typed on 报送情况, read before anything is stored or written;
4. ``refresh_period``: validate and store inbox files the store has not seen (and say so), store
   the typed decisions with who and when, consolidate from the store, rewrite receipts;
5. every sheet written in place (:func:`nianbao.plugin.xlwriter.write_sheets`: leftover rows cleared,
   typed entries kept) and a Chinese summary shown with ``app.alert`` (status bar if the engine
   has no message box) and returned in :class:`RefreshResult`.

Works on any xlwings Book: desktop Excel, or the JSON-backed book of xlwings Server/Lite.
"""

from __future__ import annotations

import getpass
import logging
import logging.handlers
import os
import re
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nianbao.settings import (
    SETTINGS_ENV,
    SETTINGS_FILE,
    Settings,
    SettingsError,
    load_settings,
    settings_file,
    user_settings_file,
)
from nianbao.schemas.county import ConfigError, CountyConfig, load_county
from nianbao.schemas.models import Period
from nianbao.workbooks.layout import Ref, a1

if TYPE_CHECKING:
    import xlwings

    from nianbao.consolidate import Consolidation
    from nianbao.pipeline import DecisionTaken, Refreshed
    from nianbao.plugin.xlwriter import WriteSummary

# The pipeline (pandas, SQLAlchemy, openpyxl) and the sheet writer are imported when the button
# runs, not when Excel imports this module: ``import nianbao.plugin.refresh`` stays cheap.

log = logging.getLogger(__name__)

ALERT_TITLE = "工会年报 · 刷新汇总"
LOG_FILE = "refresh.log"  # in the per-user settings folder, ~/.nianbao/
_LIST_AT_MOST = 8  # names or messages listed in the message box before "等 N 个"


class BookError(Exception):
    """The open workbook cannot be refreshed as it is; the message is Chinese and says where."""


@dataclass(frozen=True)
class RefreshResult:
    period: str
    as_of: datetime  # 数据截至 (Beijing time)
    consolidated_first: bool  # the inbox had files the store had not seen: validated and stored first
    new_files: int  # files validated and stored by this refresh
    written: WriteSummary
    missing: tuple[str, ...]  # names of the townships that have not reported (未报)
    decisions: tuple[DecisionTaken, ...]  # 审核意见 stored by this refresh
    refused: tuple[str, ...]  # 审核意见 not stored, each with where and why
    receipts: tuple[Path, ...]  # receipts rewritten for the decisions stored
    settings_file: Path | None  # the settings file used, if one was found
    message: str  # what the user was told
    consolidation: Consolidation


def refresh(book: xlwings.Book, settings: Settings | None = None, *, now: datetime | None = None) -> RefreshResult:
    """Refresh ``book`` from the store (see the module docstring); ``now`` is naive Beijing time."""
    explicit, source = settings is not None, None
    if settings is None:
        source = settings_file(_folder_of(book))
        settings = load_settings(source)
    from nianbao.pipeline import refresh_period
    from nianbao.plugin.xlwriter import read_reviews
    from nianbao.workbooks.master_layout import master_sheets

    county = load_county(settings.config)
    _check_county(book, county)
    period = _book_period(book) or county.latest_period
    reviews = read_reviews(book)  # before anything is stored or written
    done = refresh_period(settings, period, reviews, by=_user(book), at=now)
    written = _write(book, master_sheets(done.consolidation))
    result = _result(done, written, source, _settings_note(source, explicit=explicit))
    tell(book, result.message)
    log.info(
        "refreshed %s: %d sheets, %d rows, %d new files, %d decisions stored, %d refused",
        result.period, len(written.written), sum(written.rows.values()), result.new_files,
        len(result.decisions), len(result.refused),
    )
    return result


def main() -> None:
    """What the 刷新汇总 button runs: refresh the calling book; never show a traceback."""
    import xlwings as xw

    with _log_to_file():
        try:
            book = xw.Book.caller()
        except Exception as exc:  # no book to show a message in: the log has to do
            _log_failure(exc)
            return
        try:
            refresh(book)
        except Exception as exc:
            _log_failure(exc)
            tell(book, failure_message(exc), critical=True)


def tell(book: xlwings.Book, message: str, *, critical: bool = False) -> str:
    """Show ``message`` in Excel; returns how: "alert", "status_bar" or "log" (nothing worked)."""
    try:
        book.app.alert(message, title=ALERT_TITLE, buttons="ok", mode="critical" if critical else "info")
        return "alert"
    except Exception:
        pass
    try:
        book.app.status_bar = " ".join(message.split())[:250]
        return "status_bar"
    except Exception:
        log.warning("could not show the refresh message in Excel")
        return "log"


def failure_message(exc: BaseException) -> str:
    """A Chinese message for county staff about why the refresh failed (no traceback)."""
    from sqlalchemy.exc import SQLAlchemyError

    from nianbao.plugin.xlwriter import ReviewReadError
    from nianbao.store import StoreError
    from nianbao.workbooks.master import MasterWorkbookError  # here: openpyxl is not needed to refresh

    if isinstance(exc, (SettingsError, ConfigError, BookError, ReviewReadError, MasterWorkbookError, StoreError)):
        reason = str(exc)
    elif isinstance(exc, SQLAlchemyError):
        reason = "无法读写数据库：请检查设置中的 db（数据库地址）是否正确、网络是否连通、是否有访问权限。"
    elif isinstance(exc, PermissionError):
        reason = f"没有权限读写「{exc.filename or '文件'}」：如果它正在被打开（例如在 Excel 中），请关闭后重试；或检查文件夹的访问权限。"
    elif isinstance(exc, FileNotFoundError):
        reason = f"找不到「{exc.filename or '文件'}」：请检查设置中的路径。"
    elif isinstance(exc, OSError):
        reason = f"读写文件或网络位置时出错（{exc.strerror or type(exc).__name__}）：请检查收件箱、回执文件夹和网络连接。"
    else:
        reason = f"程序内部错误（{type(exc).__name__}）。"
    return (
        f"刷新未完成：{reason}\n\n"
        f"请按提示处理后再点「刷新汇总」。如仍不能解决，请把日志文件 {user_settings_file().parent / LOG_FILE} 发给系统管理员。"
    )


# --- reading the book --------------------------------------------------------------------------


def _folder_of(book: xlwings.Book) -> Path | None:
    """The saved workbook's folder (where a nianbao.toml may sit); None for an unsaved or web book."""
    try:
        path = Path(book.fullname)
    except Exception:
        return None
    return path.parent if path.is_absolute() else None


def _named(book: xlwings.Book, name: str) -> tuple[Any, str] | None:
    """The value of the cell a defined name points at, and where that is; None without the name."""
    if name not in book.names:
        return None
    ref = Ref.parse(book.names[name].refers_to or "")
    if ref is None or ref.sheet not in [s.name for s in book.sheets]:
        return None
    return book.sheets[ref.sheet].range((ref.row, ref.col)).value, f"「{ref.sheet}」{a1(ref.row, ref.col)}"


_TITLE_PERIOD = re.compile(r"工会年报.*?（(\d{4})年(上半年|下半年)?")


def _book_period(book: xlwings.Book) -> str | None:
    """The period the book shows: NB_PERIOD, else a master title's （2025年）; None for a blank book."""
    from nianbao.workbooks.master_layout import NB_PERIOD, normalize_code

    named = _named(book, NB_PERIOD)
    if named is not None and normalize_code(named[0]):
        value, where = named
        try:
            return str(Period(normalize_code(value)))
        except ValueError:
            raise BookError(f"{where} 的报告期为「{value}」，应为 2025 或 2025H1 这样的报告期；本次未刷新") from None
    for sheet in book.sheets:
        title = sheet.range("A1").value
        match = _TITLE_PERIOD.search(title) if isinstance(title, str) else None
        if match:
            return match.group(1) + {None: "", "上半年": "H1", "下半年": "H2"}[match.group(2)]
    return None


def _check_county(book: xlwings.Book, county: CountyConfig) -> None:
    from nianbao.workbooks.master_layout import NB_COUNTY_CODE, normalize_code

    named = _named(book, NB_COUNTY_CODE)
    code = normalize_code(named[0]) if named else ""
    if code and code != county.county_code:
        raise BookError(
            f"这个工作簿是单位代码 {code} 的汇总表（{named[1]}），而设置中的县配置是"
            f"{county.county_name}（{county.county_code}）；为避免覆盖，本次未刷新。请检查设置文件中的 config"
        )


def _user(book: xlwings.Book) -> str:
    """Who decides: Excel's user name (文件 → 选项 → 用户名, Windows) or the login name."""
    try:
        name = str(book.app.api.UserName).strip()
    except Exception:  # not desktop Excel on Windows
        name = ""
    if not name:
        try:
            name = getpass.getuser()
        except Exception:
            name = ""
    return name or "（未知用户）"


# --- writing and telling -----------------------------------------------------------------------


def _write(book: xlwings.Book, sheets: Sequence[Any]) -> WriteSummary:
    from nianbao.plugin.xlwriter import write_sheets

    _screen_updating(book, False)
    try:
        return write_sheets(book, sheets)
    finally:
        _screen_updating(book, True)


def _screen_updating(book: xlwings.Book, on: bool) -> None:
    try:
        book.app.screen_updating = on
    except Exception:  # an engine without the setting
        pass


def _settings_note(source: Path | None, *, explicit: bool) -> str | None:
    if explicit:
        return None
    if source is not None:
        return f"设置文件：{source}"
    if any(os.environ.get(var, "").strip() for var in SETTINGS_ENV.values()):
        return "设置：取自环境变量 NIANBAO_*"
    return f"未找到设置文件 {SETTINGS_FILE}，使用默认设置；请让系统管理员配置数据库和收件箱的位置"


def _listed(items: Sequence[str], sep: str = "、", unit: str = "个") -> str:
    shown = sep.join(items[:_LIST_AT_MOST])
    return shown + (f"等 {len(items)} {unit}" if len(items) > _LIST_AT_MOST else "")


def _result(done: Refreshed, written: WriteSummary, source: Path | None, note: str | None) -> RefreshResult:
    from nianbao.summary import status_line

    c = done.consolidation
    lines = [f"{c.county_name}{Period(c.period).label}汇总已刷新，数据截至 {c.as_of:%Y-%m-%d %H:%M}。"]
    if done.run is not None:
        lines.append(
            f"收件箱有 {len(done.pending)} 个新文件，已先审核入库并重新汇总"
            f"（新文件 {done.run.new} 个：接收 {done.run.accepted}，退回 {done.run.rejected}）。"
        )
    else:
        lines.append("收件箱没有新文件，结果直接取自数据库。")
    lines.append(status_line(c) + "。")
    missing = done.missing
    if missing:
        lines.append(f"未报：{_listed(missing)}。")
    rows = "，".join(f"{title} {written.rows[title]} 行" for title in written.written)
    lines.append(f"已写入 {len(written.written)} 张工作表（{rows}）。")
    cleared = [f"{title} {n} 行" for title, n in written.cleared.items() if n]
    if cleared:
        lines.append(f"已清除上次多出的行：{'，'.join(cleared)}。")
    stored = done.reviews.stored
    if stored:
        decided = [f"{d.township_name} {d.decision}" for d in stored]
        lines.append(f"已保存审核意见 {len(stored)} 条，并更新了回执：{_listed(decided, '；', '条')}。")
    if done.reviews.refused:
        lines.append(f"以下 {len(done.reviews.refused)} 条审核意见未保存：")
        lines += [f"· {m}" for m in done.reviews.refused[:_LIST_AT_MOST]]
        if len(done.reviews.refused) > _LIST_AT_MOST:
            lines.append(f"……另有 {len(done.reviews.refused) - _LIST_AT_MOST} 条，请查看「报送情况」")
    if note:
        lines.append(note)
    return RefreshResult(
        period=c.period,
        as_of=c.as_of,
        consolidated_first=done.run is not None,
        new_files=done.run.new if done.run else 0,
        written=written,
        missing=tuple(missing),
        decisions=tuple(stored),
        refused=tuple(done.reviews.refused),
        receipts=tuple(done.receipts),
        settings_file=source,
        message="\n".join(lines),
        consolidation=c,
    )


# --- logging (counts and code locations only: no names, paths or cell values) -----------------------


def _log_failure(exc: BaseException) -> None:
    frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(traceback.extract_tb(exc.__traceback__)))
    log.error("refresh failed: %s at %s", type(exc).__name__, frames or "?")


@contextmanager
def _log_to_file() -> Iterator[None]:
    """For one button press: this package's INFO lines to ~/.nianbao/refresh.log (rotated).

    Only the ``nianbao.plugin`` loggers, whose lines hold counts and code locations: other
    libraries' lines may carry file names or paths.
    """
    logger = logging.getLogger("nianbao.plugin")
    level = logger.level
    try:
        path = user_settings_file().parent / LOG_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=2, encoding="utf-8")
    except OSError:  # no writable home folder: log nowhere rather than fail the refresh
        yield
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(level)
