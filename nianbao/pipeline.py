"""The plain functions behind the nightly flow: extract → validate → store → consolidate → publish.

The Prefect flow (``flows/nightly.py``) only orchestrates these; the xlwings add-in calls the
same ones. Only the edges touch the inbox, the database and Excel files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from nianbao.consolidate import Consolidation, consolidate, local_naive
from nianbao.inbox import InboxFile, list_returns, local_copy, sha256_of
from nianbao.store import Recorded, Store, open_store
from nianbao.validate import check_file
from schemas.county import DEMO_CONFIG, CountyConfig, load_county
from schemas.findings import Report
from schemas.models import TownshipReturn
from workbooks.master import write_master
from workbooks.receipt import ReceiptInfo, receipt_name, write_receipt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """Where everything lives. The defaults are the embedded, single-machine set-up."""

    config: str = str(DEMO_CONFIG)
    inbox: str = "workbooks/inbox"  # an fsspec URL: a folder, smb://, sftp://, s3:// …
    db: str = "sqlite:///workbooks/nianbao.db"  # or postgresql+psycopg://user@host/db
    out: str = "workbooks/out"  # the master workbook goes here
    outbox: str = "workbooks/outbox"  # receipts (回执) for the townships
    batch_size: int = 50

    def master_path(self, county: CountyConfig, period: str) -> Path:
        return Path(self.out) / master_name(county, period)


def master_name(county: CountyConfig, period: str) -> str:
    return f"{county.county_name}{period}工会年报汇总.xlsx"


# --- where a county office keeps its settings ------------------------------------------------

SETTINGS_FILE = "nianbao.toml"
SETTINGS_PATH_ENV = "NIANBAO_SETTINGS"
# Settings field -> the environment variable that overrides it.
SETTINGS_ENV = {
    "config": "NIANBAO_CONFIG",
    "inbox": "NIANBAO_INBOX",
    "db": "NIANBAO_DB",
    "out": "NIANBAO_OUT",
    "outbox": "NIANBAO_OUTBOX",
    "batch_size": "NIANBAO_BATCH_SIZE",
}


class SettingsError(ValueError):
    """A settings file or variable that cannot be used; the message is Chinese and says where."""


def user_settings_file() -> Path:
    """The per-user settings file: ``%USERPROFILE%\\.nianbao\\nianbao.toml`` (``~/.nianbao/`` elsewhere)."""
    return Path.home() / ".nianbao" / SETTINGS_FILE


def settings_file(near: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The settings file to use: ``$NIANBAO_SETTINGS``, else ``nianbao.toml`` in the folder
    ``near`` (the master workbook's folder), else :func:`user_settings_file`; None if none exists."""
    env = os.environ if env is None else env
    named = env.get(SETTINGS_PATH_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(f"环境变量 {SETTINGS_PATH_ENV} 指向的设置文件不存在：{path}（应为 {SETTINGS_FILE} 文件的完整路径）")
        return path
    candidates = ([Path(near) / SETTINGS_FILE] if near is not None else []) + [user_settings_file()]
    return next((p for p in candidates if p.is_file()), None)


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the TOML file ``path`` (keys = Settings fields), with ``NIANBAO_*``
    environment variables over it and :class:`Settings` defaults under it.

    A relative path in the file counts from the file's folder (so the file can sit beside the
    data); ``db`` may be a plain file path (SQLite) or a database URL.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(
                f"设置文件 {path} 无法读取或格式有误：{exc}（每行应为 键 = '值'；"
                "Windows 路径请用英文单引号括起来，如 inbox = 'D:\\年报\\收件箱'）"
            ) from None
        unknown = sorted(set(data) - set(SETTINGS_ENV))
        if unknown:
            raise SettingsError(
                f"设置文件 {path} 中有不认识的设置项：{'、'.join(unknown)}；可用的设置项为 {'、'.join(SETTINGS_ENV)}"
            )
        values = {key: _setting(key, value, f"设置文件 {path} 的 {key}", path.parent) for key, value in data.items()}
    for key, var in SETTINGS_ENV.items():
        if env.get(var, "").strip():
            values[key] = _setting(key, env[var].strip(), f"环境变量 {var}", None)
    return dataclasses.replace(Settings(), **values)


def _setting(key: str, value: object, where: str, folder: Path | None) -> object:
    if key == "batch_size":
        try:
            number = int(str(value))
        except ValueError:
            number = 0
        if isinstance(value, bool) or number < 1:
            raise SettingsError(f"{where} 为「{value}」，应为正整数，如 50")
        return number
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where} 为「{value}」，应为非空的路径或地址（用英文引号括起来）")
    value = value.strip()
    if folder is None:
        return value
    prefix = "sqlite:///"
    if key == "db" and value.startswith(prefix):
        rest = value[len(prefix) :]
        return prefix + _from_folder(rest, folder) if rest and rest != ":memory:" else value
    return value if "://" in value else _from_folder(value, folder)


def _from_folder(value: str, folder: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())


@dataclass
class Stopwatch:
    """Time spent inside the plain functions, so a benchmark can tell orchestration apart."""

    seconds: float = 0.0

    def __enter__(self) -> "Stopwatch":
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._t0


WORK = Stopwatch()


@dataclass(frozen=True)
class Received:
    file: InboxFile
    sha256: str
    report: Report
    ret: TownshipReturn | None


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
        out.append(Received(file, digest, checked.report, checked.ret))
    return out


def store_files(store: Store, received: Iterable[Received]) -> list[Stored]:
    stored = []
    for r in received:
        recorded = store.record(
            r.report,
            r.ret,
            sha256=r.sha256,
            size=r.file.size,
            file_name=r.file.name,
            source=r.file.url,
            received_at=r.file.modified,
        )
        stored.append(Stored(r.file, r.sha256, r.report, recorded))
    return stored


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
    return c


def publish_master(c: Consolidation, path: Path) -> Path:
    return write_master(c, path)


def publish_receipts(stored: Iterable[Stored], county: CountyConfig, outbox: Path) -> list[Path]:
    """One receipt per township and period for what it sent in this run (the latest file wins)."""
    latest: dict[str, Stored] = {}
    for s in stored:
        if s.recorded.already_known:
            continue
        key = f"{s.report.township}_{s.report.period}" if s.report.township else f"未识别_{Path(s.file.name).stem}"
        if key not in latest or latest[key].file.modified <= s.file.modified:
            latest[key] = s
    return [write_township_receipt(s.file, s.sha256, s.report, county, outbox, key) for key, s in sorted(latest.items())]


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
        result.receipts = publish_receipts(stored, county, Path(settings.outbox))
        return summarize(result, files, stored)
    finally:
        store.close()


def summarize(result: RunResult, files: Sequence[InboxFile], stored: Sequence[Stored]) -> RunResult:
    result.seen = len(files)
    result.new = sum(1 for s in stored if not s.recorded.already_known)
    result.accepted = sum(1 for s in stored if s.report.valid and not s.recorded.already_known)
    result.rejected = result.new - result.accepted
    return result

