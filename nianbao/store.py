"""The store: every received file, its findings and parsed values, county decisions and runs.

SQLAlchemy 2.x with a SQLite file by default; a PostgreSQL URL works the same (portable types
and SQL; the one dialect-specific statement is the conditional upsert of the current pointer,
which both dialects spell ``INSERT … ON CONFLICT … DO UPDATE … WHERE``).

The schema is versioned with Alembic (``nianbao/migrations``): :func:`open_store` brings an
older database up to date (saying so in Chinese) and refuses one written by a newer nianbao.

Design:

* ``submissions`` — one row per distinct file per township+period (sha256, size, name, source,
  received time, status, findings as JSON). Never updated, never deleted: it is the history.
* ``summary_values`` — indicator code → value of a submission, long format (a new indicator in
  the catalogue needs no migration). Values are exact decimal strings, never floats.
* ``roster_units`` — USCC and unit name of each roster row, for the county duplicate check.
  The hardship ledger is reduced to a row count and an amount sum: no names, no ID numbers.
* ``roster_details`` — each roster row whole (units, not people), for the return reported upward.
* ``detail_totals`` — per return, the roster's totals by 单位类型 and overall and the ledger
  as counts and amounts by 困难类型/帮扶方式 (``nianbao.grouping``), for 分组汇总 and reporting up.
* ``current_returns`` — the pointer (township, period) → the submission whose values count.
  It moves only to a *valid* submission received later than the one it points to. The
  pointer carries that submission's received time, so "is the new file newer?" is decided by
  one conditional upsert on the pointer row itself (see :meth:`Store._maybe_make_current`).
* ``decisions`` — county decisions (通过 / 退回) per township+period, appended; ``seq`` numbers
  them per township+period under a unique index, so two refreshes cannot both append.
* ``runs`` — one row per consolidation run with its counts.
* ``receipts_due`` — a receipt owed for a newly recorded submission, written in the same
  transaction as the submission and marked done once the receipt file exists: a run killed
  after the store commit still owes (and the next run writes) every receipt.
* ``run_locks`` — who holds the run lock of a county+period and since when (the lock itself
  is a PostgreSQL advisory lock or a lock file beside the SQLite file: ``nianbao.runlock``).

Times are stored as naive UTC and returned tz-aware (UTC); a naive time given to the store is
taken as Beijing time (see ``nianbao.consolidate.LOCAL_TZ``).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from nianbao.consolidate import (
    empty_frame,
    CELL_COLUMNS,
    CURRENT_META,
    DECISION_COLUMNS,
    FINDING_COLUMNS,
    INDICATOR_CODES,
    LOCAL_TZ,
    MONEY_CODES,
    RUN_COUNT_KEYS,
    SUBMISSION_COLUMNS,
    UNIT_COLUMNS,
    Decision,
    FileStatus,
    Inputs,
)
from nianbao.detail_rows import DetailRows, detail_rows
from nianbao.grouping import DIM_ALL, DIM_UNIT_TYPE, GROUP_COLUMNS
from nianbao.schemas.findings import Finding, Report, error
from nianbao.schemas.models import Period, TownshipReturn
from nianbao.workbooks.layout import CellMap

DEFAULT_URL = "sqlite:///nianbao.db"
_CHUNK = 20_000  # rows fetched at a time when a query fills a frame

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# portable column types


class DecimalText(TypeDecorator):
    """An exact decimal kept as its canonical string (SQLite has no exact decimal type)."""

    impl = Text  # unbounded: a rejected return may hold a 46-digit count, and it is still recorded
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return format(number, "f")

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC, returned aware (UTC). Naive input is Beijing time."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=LOCAL_TZ)
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------------------------
# tables


class Base(DeclarativeBase):
    pass


_STATUSES = ", ".join(f"'{s.value}'" for s in FileStatus)
_DECISIONS = ", ".join(f"'{d.value}'" for d in Decision)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("sha256", "township_code", "period", name="uq_submission_file"),
        CheckConstraint(f"status IN ({_STATUSES})", name="ck_submission_status"),
        Index("ix_submission_period_township", "period", "township_code", "received_at"),
        # unidentified(): the few files that name no township, without scanning the history
        Index("ix_submission_unidentified", "id", postgresql_where=sa.text("township_code = ''"),
              sqlite_where=sa.text("township_code = ''")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(String)
    source: Mapped[str] = mapped_column(Text)  # inbox URL or path
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "" when the file names none; unbounded because a rejected file may hold any text here
    township_code: Mapped[str] = mapped_column(String)
    township_name: Mapped[str] = mapped_column(String)
    period: Mapped[str] = mapped_column(String(6))  # "" when the file names none
    status: Mapped[str] = mapped_column(String(10))
    fill_date: Mapped[date | None]  # informational only: "newer" means received later
    error_count: Mapped[int] = mapped_column(Integer)
    warning_count: Mapped[int] = mapped_column(Integer)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # Finding.model_dump(mode="json")
    ledger_rows: Mapped[int] = mapped_column(Integer)
    ledger_amount: Mapped[Decimal | None] = mapped_column(DecimalText)  # 元, sum of the ledger


class SummaryValue(Base):
    __tablename__ = "summary_values"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[Decimal] = mapped_column(DecimalText)


class RosterUnit(Base):
    # No index on uscc (migration 0006): random inserts into it made storing cost grow with the
    # history; the duplicate check reads a period's units through the primary key instead.
    __tablename__ = "roster_units"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0-based non-blank roster row
    uscc: Mapped[str | None] = mapped_column(String)  # as typed: a rejected file may hold any text
    name: Mapped[str | None] = mapped_column(String)


class SummaryCell(Base):
    """Where each indicator of a submission was read (sheet, cell: lineage) and the 情况说明
    typed beside it. Its own table so stores made before it gain it by ``create_all``."""

    __tablename__ = "summary_cells"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(8), primary_key=True)
    sheet: Mapped[str | None] = mapped_column(String)
    cell: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)  # as typed: untrusted text


class Publish(Base):
    """What a consolidation run showed, to tell the next one what changed (``nianbao.changes``)."""

    __tablename__ = "publishes"
    __table_args__ = (Index("ix_publish_period", "period", "published_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(6))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)


class RosterDetail(Base):
    """A whole roster row (units, not people: no personal data), for the return reported upward."""

    __tablename__ = "roster_details"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # RosterRow.model_dump(mode="json")


class DetailTotal(Base):
    """A return's roster totals by group and its ledger as counts/amounts (``nianbao.grouping``)."""

    __tablename__ = "detail_totals"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    grp: Mapped[str] = mapped_column(Text, primary_key=True)  # unbounded: a rejected roster may hold any text
    measure: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[Decimal] = mapped_column(DecimalText)


class CurrentReturn(Base):
    __tablename__ = "current_returns"
    __table_args__ = (Index("ix_current_period", "period"),)

    township_code: Mapped[str] = mapped_column(String, primary_key=True)
    period: Mapped[str] = mapped_column(String(6), primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)  # of that submission: what "newer" compares
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(f"decision IN ({_DECISIONS})", name="ck_decision_value"),
        Index("ix_decision_period_township", "period", "township_code", "decided_at"),
        Index("uq_decision_seq", "township_code", "period", "seq", unique=True),
        Index("ix_decision_submission", "submission_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    township_code: Mapped[str] = mapped_column(String)
    period: Mapped[str] = mapped_column(String(6))
    seq: Mapped[int] = mapped_column(Integer)  # 0, 1, 2 … per township+period: one append per step
    decision: Mapped[str] = mapped_column(String(4))
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The latest submission when the decision was taken (None if nothing was received).
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))


class ReceiptDue(Base):
    __tablename__ = "receipts_due"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(6), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expected: Mapped[int | None]
    received: Mapped[int | None]
    valid: Mapped[int | None]
    on_time: Mapped[int | None]
    late: Mapped[int | None]
    sent_back: Mapped[int | None]
    missing: Mapped[int | None]
    findings: Mapped[int | None]


class RunLockRow(Base):
    """Who holds a run lock (informational: the lock itself is advisory, see nianbao.runlock)."""

    __tablename__ = "run_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Recorded:
    submission_id: int
    already_known: bool  # the same file was recorded before; nothing changed
    status: FileStatus
    current: bool  # this submission is now the township's current return
    superseded: int | None = None  # the submission it replaced as current, if any
    finding: Finding | None = None  # set when the database refused the file's contents (store.refused)


@dataclass(frozen=True)
class Run:
    id: int
    period: str
    started_at: datetime
    finished_at: datetime | None
    counts: Mapping[str, int | None]


class KnownHashes:
    """``digest in known``: one indexed look-up per file asked about, remembered.

    What the flow and the refresh ask before validating a file; with a long history this
    reads a row per inbox file instead of every hash ever recorded (:meth:`Store.known_hashes`).
    """

    def __init__(self, store: "Store") -> None:
        self._store = store
        self._answers: dict[str, bool] = {}

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, str):
            return False
        if digest not in self._answers:
            with self._store._reading() as conn:
                self._answers[digest] = conn.execute(_IS_RECORDED, {"sha256": digest}).first() is not None
        return self._answers[digest]


# Plain text: the ORM's per-statement overhead was most of a look-up's cost.
_IS_RECORDED = sa.text("SELECT 1 FROM submissions WHERE sha256 = :sha256 LIMIT 1")


# --------------------------------------------------------------------------------------------
# opening


class StoreError(RuntimeError):
    """A store problem county staff or their administrator must act on; the message is Chinese."""


class SchemaTooNew(StoreError):
    """The database was upgraded by a newer nianbao than this one."""


def notice(message: str) -> None:
    """A Chinese line for whoever runs the command (stderr: the terminal or Prefect's log), and the log."""
    log.info("%s", message)
    print(message, file=sys.stderr, flush=True)


def engine_url(url: str | Path) -> URL:
    """A SQLAlchemy URL from a URL or a plain file path (taken as a SQLite file).

    ``postgres://`` (what hosting services hand out) and a bare ``postgresql://`` mean
    psycopg 3, the driver the ``postgres`` extra installs (SQLAlchemy would pick psycopg2).
    """
    text = str(url)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser().resolve()))
    for scheme in ("postgres://", "postgresql://"):
        if text.startswith(scheme):
            text = "postgresql+psycopg://" + text[len(scheme):]
    return make_url(text)


WRITE = "nianbao_write"  # execution option: a transaction that will write (SQLite: BEGIN IMMEDIATE)


def make_engine(url: str | Path) -> Engine:
    """The engine for ``url``; no connection is made until first use."""
    parsed = engine_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})

    # pysqlite's own transaction handling begins a transaction only before a write, so a
    # series of reads sees other processes' commits in between, and a read-then-write
    # transaction can dead-lock with another writer. SQLAlchemy's documented recipe: switch it
    # off and begin ourselves -- BEGIN (a snapshot for reads) or BEGIN IMMEDIATE (writers
    # queue on the busy timeout instead of failing halfway).
    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine


def open_store(url: str | Path = DEFAULT_URL) -> "Store":
    """Open the store at ``url`` (or a SQLite file path), creating or upgrading its schema.

    An older database is upgraded (a Chinese line says so); one written by a newer nianbao is
    refused with :class:`SchemaTooNew`.
    """
    from nianbao.schema import upgrade_schema

    store = Store(make_engine(url))
    try:
        message = upgrade_schema(store.engine)
    except BaseException:
        store.close()
        raise
    if message:
        notice(message)
    return store


# Built once (see _pointer_statements): the file recorded under (sha256, township, period), if any.
_KNOWN = (
    select(Submission.id, Submission.status, CurrentReturn.submission_id)
    .outerjoin(
        CurrentReturn,
        (CurrentReturn.township_code == Submission.township_code) & (CurrentReturn.period == Submission.period),
    )
    .where(Submission.sha256 == sa.bindparam("sha"), Submission.township_code == sa.bindparam("tc"),
           Submission.period == sa.bindparam("pd"))
)


@functools.cache
def _pointer_statements(dialect: str) -> tuple[Any, Any]:
    """The pointer's read (locking the row on PostgreSQL) and its conditional upsert, built once:
    building them per file was most of the time spent moving the pointer."""
    t = CurrentReturn.__table__
    before = (
        select(t.c.submission_id)
        .where(t.c.township_code == sa.bindparam("tc"), t.c.period == sa.bindparam("pd"))
        .with_for_update()
    )
    ins = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](t)
    newer = sa.tuple_(t.c.received_at, t.c.submission_id) < sa.tuple_(ins.excluded.received_at, ins.excluded.submission_id)
    upsert = ins.on_conflict_do_update(
        index_elements=[t.c.township_code, t.c.period],
        set_={c: ins.excluded[c] for c in ("submission_id", "received_at", "updated_at")},
        where=newer,
    ).returning(t.c.submission_id)
    return before, upsert


def _period_or_blank(value: str | None) -> str:
    try:
        return str(Period(value)) if value else ""
    except ValueError:
        return ""


def _identity(report: Report, ret: TownshipReturn | None) -> tuple[str, str]:
    """(township code, period) a file is recorded under; "" where the file names none."""
    cover = ret.cover if ret is not None else None
    township = (report.township or (cover.township_code if cover else None) or "").strip()
    return township, _period_or_blank(report.period or (cover.period if cover else None))


def _insert_rows(session: Session, rows: Mapping[sa.Table, list[dict[str, Any]]]) -> None:
    """One executemany per table (Core: the ORM's bulk path costs more per row than the insert)."""
    for table, values in rows.items():
        if values:
            session.execute(table.insert(), values)


def _latest_per_township(*columns: Any, table: Any, order: tuple[Any, ...], where: Any) -> Any:
    """A subquery of ``columns`` with ``rn`` = 1 on the latest row of each township (portable window)."""
    rn = func.row_number().over(partition_by=table.township_code, order_by=order).label("rn")
    return select(*columns, rn).where(where).subquery()


# --------------------------------------------------------------------------------------------
# the store


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        self._snapshot: Connection | None = None

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """The snapshot connection inside :meth:`snapshot`, else a connection of its own."""
        if self._snapshot is not None:
            yield self._snapshot
            return
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside sees one consistent state of the database.

        PostgreSQL: one REPEATABLE READ transaction. SQLite: one deferred transaction, whose
        shared lock keeps other processes' commits out until it ends.
        """
        if self._snapshot is not None:
            yield
            return
        options = {"isolation_level": "REPEATABLE READ"} if self.engine.dialect.name == "postgresql" else {}
        with self.engine.connect().execution_options(**options) as conn, conn.begin():
            self._snapshot = conn
            try:
                yield
            finally:
                self._snapshot = None

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ---- recording -------------------------------------------------------------------------

    def record(
        self,
        report: Report,
        ret: TownshipReturn | None,
        *,
        sha256: str,
        size: int,
        file_name: str,
        source: str,
        received_at: datetime,
    ) -> Recorded:
        """Record one received file with its validation report and (if readable) parsed return.

        Idempotent per (sha256, township, period). A valid file received later than the
        current return becomes current; a rejected or unreadable one never does.
        """
        (recorded,) = self.record_many([(report, ret, dict(sha256=sha256, size=size, file_name=file_name, source=source, received_at=received_at))])
        return recorded

    def record_many(self, items: Sequence[tuple[Report, TownshipReturn | None, Mapping[str, Any]]]) -> list[Recorded]:
        """:meth:`record` for a batch in one transaction: one commit (one fsync) per batch.

        If another process recorded one of the files meanwhile (a unique-key clash), the batch
        is rolled back and recorded file by file, so the clash only makes that file "known".
        A value the database cannot hold (:func:`_file_problem`) is that file's finding: the
        file is recorded without its contents (see :meth:`_record_refused`), the batch goes on.
        """
        try:
            with self._sessions() as session:
                rows: dict[sa.Table, list[dict[str, Any]]] = {}
                out = [self._record(session, report, ret, rows=rows, **file) for report, ret, file in items]
                _insert_rows(session, rows)
                session.commit()
                return out
        except IntegrityError:
            if len(items) == 1:
                report, ret, file = items[0]
                with self._sessions() as session:
                    known = self._known(session, file["sha256"], *_identity(report, ret))
                if known is None:
                    raise
                return [known]
            return [recorded for item in items for recorded in self.record_many([item])]
        except DBAPIError as exc:
            if not _file_problem(exc):
                raise
            if len(items) == 1:
                return [self._record_refused(*items[0], exc)]
            return [recorded for item in items for recorded in self.record_many([item])]

    def _record_refused(self, report: Report, ret: TownshipReturn | None, file: Mapping[str, Any], exc: DBAPIError) -> Recorded:
        """Record a file whose contents the database refused: name, hash and one finding only.

        It names no township (so it is listed among the unidentified files while it stays in
        the inbox) and is never current; the same file is not tried again on the next run.
        """
        problem = store_finding(exc)
        refused = Report(file=report.file, readable=False, findings=[problem])
        with self._sessions() as session:
            known = self._known(session, file["sha256"], "", "")
            if known is not None:
                return known
            rows: dict[sa.Table, list[dict[str, Any]]] = {}
            recorded = self._record(session, refused, None, rows=rows, **{**file, "file_name": _clean(file["file_name"]),
                                                                          "source": _clean(str(file["source"]))})
            _insert_rows(session, rows)
            session.commit()
        return Recorded(recorded.submission_id, False, FileStatus.UNREADABLE, False, finding=problem)

    def _record(
        self,
        session: Session,
        report: Report,
        ret: TownshipReturn | None,
        *,
        sha256: str,
        size: int,
        file_name: str,
        source: str,
        received_at: datetime,
        cells: CellMap | None = None,
        details: DetailRows | None = None,
        rows: dict[sa.Table, list[dict[str, Any]]],
    ) -> Recorded:
        """Record one file. ``details``: :func:`nianbao.detail_rows.detail_rows` of ``ret`` and
        ``cells`` if already made. Its detail rows go to ``rows`` (table -> rows) for the caller
        to insert with the rest of the batch's (:func:`_insert_rows`)."""
        if not report.readable or ret is None:
            status = FileStatus.UNREADABLE
        else:
            status = FileStatus.REJECTED if report.errors else FileStatus.ACCEPTED
        cover = ret.cover if ret is not None else None
        township, period = _identity(report, ret)
        known = self._known(session, sha256, township, period)
        if known is not None:
            return known
        sub = Submission(
            sha256=sha256,
            size=int(size),
            file_name=file_name,
            source=str(source),
            received_at=received_at,
            recorded_at=_now(),
            township_code=township,
            township_name=(cover.township_name if cover else None) or "",
            period=period,
            status=status.value,
            fill_date=cover.fill_date if cover else None,
            error_count=len(report.errors),
            warning_count=len(report.warnings),
            findings=[f.model_dump(mode="json") for f in report.findings],
            ledger_rows=len(ret.ledger) if ret is not None else 0,
            ledger_amount=sum((r.amount for r in ret.ledger if r.amount is not None), Decimal(0)) if ret else None,
        )
        session.add(sub)
        session.flush()  # IntegrityError here: recorded concurrently (see record_many)
        rows.setdefault(ReceiptDue.__table__, []).append({"submission_id": sub.id, "done_at": None})
        if ret is not None:
            # Core executemany for the whole batch, not ORM objects nor a statement per return:
            # ~440 rows a return, and per-statement and per-object overhead was most of the
            # time spent storing a night's returns. The rows are usually made by the worker
            # process that read the file (``details``); they are this call's to stamp.
            for name, table_rows in (details if details is not None else detail_rows(ret, cells)).items():
                for row in table_rows:
                    row["submission_id"] = sub.id
                rows.setdefault(Base.metadata.tables[name], []).extend(table_rows)
        superseded, current = None, False
        if status is FileStatus.ACCEPTED:
            superseded, current = self._maybe_make_current(session, sub)
        return Recorded(sub.id, False, status, current, superseded)

    # ---- receipts owed ----------------------------------------------------------------------

    def receipts_due(self) -> pd.DataFrame:
        """Submissions whose receipt is owed (not yet written), oldest first.

        Columns: submission_id, sha256, size, file_name, source, received_at, township_code,
        period, status, findings (list of Finding dicts).
        """
        s = Submission
        columns = ("submission_id", "sha256", "size", "file_name", "source", "received_at", "township_code", "period", "status", "findings")
        stmt = (
            select(s.id, s.sha256, s.size, s.file_name, s.source, s.received_at, s.township_code, s.period, s.status, s.findings)
            .join(ReceiptDue, ReceiptDue.submission_id == s.id)
            .where(ReceiptDue.done_at.is_(None))
            .order_by(s.received_at, s.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=list(columns), dtype=object)

    def receipts_done(self, submission_ids: Iterable[int], at: datetime | None = None) -> None:
        """Mark receipts written (their files exist)."""
        ids = [int(i) for i in submission_ids]
        if not ids:
            return
        with self._sessions() as session:
            session.execute(
                sa.update(ReceiptDue).where(ReceiptDue.submission_id.in_(ids)).values(done_at=at or _now())
            )
            session.commit()

    def known_hashes(self) -> set[str]:
        """sha256 of every file ever recorded (the whole history: prefer :meth:`known_among`)."""
        with self._reading() as conn:
            return {row[0] for row in conn.exec_driver_sql("SELECT DISTINCT sha256 FROM submissions")}

    def known_among(self, digests: Iterable[str]) -> set[str]:
        """Which of ``digests`` were recorded before: look-ups in ``uq_submission_file`` (sha256
        first) whose cost follows the inbox, not the history."""
        digests = sorted(set(digests))
        found: set[str] = set()
        with self._reading() as conn:
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                found.update(conn.scalars(select(Submission.sha256).where(Submission.sha256.in_(chunk)).distinct()))
        return found

    def known(self) -> "KnownHashes":
        """A set-like view of the recorded hashes for ``digest in known`` (see :class:`KnownHashes`)."""
        return KnownHashes(self)

    def _known(self, session: Session, sha256: str, township: str, period: str) -> Recorded | None:
        row = session.execute(_KNOWN, {"sha": sha256, "tc": township, "pd": period}).first()
        if row is None:
            return None
        return Recorded(row[0], True, FileStatus(row[1]), row[2] == row[0])

    def _maybe_make_current(self, session: Session, sub: Submission) -> tuple[int | None, bool]:
        """Point (township, period) at ``sub`` if it is newer: (the submission it replaced, moved?).

        Newer = received later (ties: recorded later); a file recorded late but received
        earlier does not win. One statement decides, whatever the interleaving of runs:
        ``INSERT … ON CONFLICT DO UPDATE … WHERE (received_at, submission_id) < new``. The
        database evaluates the condition on the row as it is when the statement gets it
        (PostgreSQL locks the conflicting row and re-checks it; SQLite writers are serial), so
        an older file can never overwrite a newer pointer. Chosen over a row lock because the
        first file of a township has no row to lock yet, and over a constraint because "the
        newest wins" is a comparison, not a uniqueness rule.
        """
        before_stmt, upsert = _pointer_statements(session.get_bind().dialect.name)
        before = session.scalar(before_stmt, {"tc": sub.township_code, "pd": sub.period})
        row = dict(township_code=sub.township_code, period=sub.period, submission_id=sub.id,
                   received_at=sub.received_at, updated_at=_now())
        moved = session.execute(upsert, row).first() is not None
        return (before if moved else None), moved

    def record_decision(
        self,
        township_code: str,
        period: str,
        decision: str,
        reason: str = "",
        *,
        by: str,
        at: datetime | None = None,
    ) -> int:
        """Record a county decision (通过 / 退回) on a township's latest submission for a period."""
        try:
            value = Decision(decision)
        except ValueError:
            raise ValueError(f"审核意见「{decision}」无效，应为「通过」或「退回」") from None
        if value is Decision.SENT_BACK and not reason.strip():
            raise ValueError(f"退回 {township_code} 的{Period(period).label}报表时必须填写退回原因")
        period = str(Period(period))
        for _attempt in range(10):
            try:
                return self._append_decision(township_code, period, value, reason.strip(), by, at or _now())
            except IntegrityError:
                continue  # another refresh appended a decision meanwhile: look again
        raise StoreError(f"{township_code} 的{Period(period).label}审核意见多次保存冲突，请稍后再刷新一次")

    def _append_decision(self, township_code: str, period: str, value: Decision, reason: str, by: str, at: datetime) -> int:
        """Append after the latest decision (``seq`` + 1, unique), unless it says the same already.

        Two refreshes storing the same typed entry at once both compute the same ``seq``; the
        unique index lets one in, the other retries, sees it and stores nothing.
        """
        with self._sessions() as session:
            latest = session.scalar(
                select(Submission.id)
                .where(Submission.township_code == township_code, Submission.period == period)
                .order_by(Submission.received_at.desc(), Submission.id.desc())
                .limit(1)
            )
            last = session.scalar(
                select(DecisionRow)
                .where(DecisionRow.township_code == township_code, DecisionRow.period == period)
                .order_by(DecisionRow.seq.desc())
                .limit(1)
            )
            if last is not None and (last.decision, last.reason, last.submission_id) == (value.value, reason, latest):
                return last.id
            row = DecisionRow(
                township_code=township_code,
                period=period,
                seq=last.seq + 1 if last is not None else 0,
                decision=value.value,
                reason=reason,
                decided_by=by,
                decided_at=at,
                submission_id=latest,
            )
            session.add(row)
            session.commit()
            return row.id

    # ---- runs ------------------------------------------------------------------------------

    def start_run(self, period: str, at: datetime | None = None) -> int:
        with self._sessions() as session:
            row = RunRow(period=str(Period(period)), started_at=at or _now())
            session.add(row)
            session.commit()
            return row.id

    def finish_run(self, run_id: int, counts: Mapping[str, int], at: datetime | None = None) -> None:
        unknown = set(counts) - set(RUN_COUNT_KEYS)
        if unknown:
            raise ValueError(f"unknown run counts: {sorted(unknown)}")
        with self._sessions() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise ValueError(f"no run {run_id}")
            row.finished_at = at or _now()
            for key, value in counts.items():
                setattr(row, key, int(value))
            session.commit()

    def last_run(self, period: str | None = None) -> Run | None:
        """The latest finished run (of ``period`` if given): its start is the "time of data"."""
        stmt = select(RunRow).where(RunRow.finished_at.is_not(None))
        if period is not None:
            stmt = stmt.where(RunRow.period == str(Period(period)))
        with self._sessions() as session:
            row = session.scalar(stmt.order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(1))
            if row is None:
                return None
            counts = {key: getattr(row, key) for key in RUN_COUNT_KEYS}
            return Run(row.id, row.period, row.started_at, row.finished_at, counts)

    def latest_received_at(self, period: str | None = None) -> datetime | None:
        """When the newest recorded file was received (compare with ``last_run().started_at``)."""
        stmt = select(func.max(Submission.received_at))
        if period is not None:
            stmt = stmt.where(Submission.period == str(Period(period)))
        with self._reading() as conn:
            value = conn.execute(stmt).scalar()
        return _aware(value) if value is not None else None

    # ---- queries for the consolidation -----------------------------------------------------

    def _frame(self, stmt: Any, columns: tuple[str, ...], numbers: Container[str] = ()) -> pd.DataFrame:
        """The rows of ``stmt`` as an object-dtype frame, read in chunks straight into columns.

        A county's cells and group totals are 650 000+ rows: holding them as row objects, then
        tuples, then a frame took three times the frame's memory. Equal values of a column
        share one object (the driver returns a new one per row), so the township code, the
        indicator or the cell address of 650 000 rows costs a pointer each. The columns named
        in ``numbers`` become float64 chunk by chunk (``pd.to_numeric``, blank or not a number:
        NaN), so their values, each a different string, are never all held at once.
        """
        data: list[list[Any]] = [[] for _ in columns]
        shared: list[dict[Any, Any]] = [{} for _ in columns]
        with self._reading() as conn:
            for chunk in conn.execute(stmt).partitions(_CHUNK):
                for name, values, col, seen in zip(columns, zip(*chunk), data, shared):
                    if name in numbers:
                        col.append(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64"))
                        continue
                    try:
                        values = list(map(seen.setdefault, values, values))
                    except TypeError:  # an unhashable value (JSON) is kept as it is
                        pass
                    col.extend(values)
        return pd.DataFrame(
            {
                name: pd.Series(np.concatenate(col) if col else np.empty(0), dtype="float64") if name in numbers else pd.Series(col, dtype=object)
                for name, col in zip(columns, data)
            },
            columns=list(columns),
        )

    def current_returns(self, period: str) -> pd.DataFrame:
        """The current accepted return of each township: CURRENT_META + one column per indicator.

        Counts are nullable integers, money floats (万元); a blank value stays blank.
        """
        period = str(Period(period))
        meta = self._frame(
            select(CurrentReturn.township_code, Submission.id, Submission.file_name, Submission.received_at)
            .join(Submission, Submission.id == CurrentReturn.submission_id)
            .where(CurrentReturn.period == period)
            .order_by(CurrentReturn.township_code),
            CURRENT_META,
        )
        # Raw decimal strings, placed straight into a submission × indicator grid: a long frame
        # of 650 000 values pivoted wide took a quarter of a gigabyte for a moment.
        row_of = {sid: i for i, sid in enumerate(meta["submission_id"])}
        column_of = {code: j for j, code in enumerate(INDICATOR_CODES)}
        grid = np.full((len(meta), len(INDICATOR_CODES)), None, dtype=object)
        stmt = (
            select(SummaryValue.submission_id, SummaryValue.indicator, sa.type_coerce(SummaryValue.value, String))
            .join(CurrentReturn, CurrentReturn.submission_id == SummaryValue.submission_id)
            .where(CurrentReturn.period == period)
        )
        with self._reading() as conn:
            for chunk in conn.execute(stmt).partitions(_CHUNK):
                for sid, code, value in chunk:
                    i, j = row_of.get(sid), column_of.get(code)
                    if i is not None and j is not None:
                        grid[i, j] = value
        out = meta
        for j, code in enumerate(INDICATOR_CODES):
            number = pd.to_numeric(pd.Series(grid[:, j], index=out.index), errors="coerce")
            out[code] = number.astype("float64") if code in MONEY_CODES else number.astype("Int64")
        out["received_at"] = pd.to_datetime(out["received_at"], utc=True)
        return out

    def submissions(self, period: str) -> pd.DataFrame:
        """Every file recorded for ``period`` (history included), oldest first."""
        period = str(Period(period))
        s = Submission
        stmt = (
            select(
                s.id, s.township_code, s.township_name, s.file_name, s.source, s.sha256, s.size, s.received_at,
                s.status, s.error_count, s.warning_count, CurrentReturn.submission_id.is_not(None),
            )
            .outerjoin(CurrentReturn, CurrentReturn.submission_id == s.id)
            .where(s.period == period)
            .order_by(s.received_at, s.id)
        )
        out = self._frame(stmt, SUBMISSION_COLUMNS)
        out["received_at"] = pd.to_datetime(out["received_at"], utc=True)
        out["is_current"] = out["is_current"].astype(bool)
        return out

    def latest_findings(self, period: str) -> pd.DataFrame:
        """Every finding of each township's latest submission (by received time) for ``period``."""
        s = Submission
        sub = _latest_per_township(
            s.id, s.township_code, s.file_name, s.findings,
            table=s, order=(s.received_at.desc(), s.id.desc()), where=s.period == str(Period(period)),
        )
        with self._reading() as conn:
            rows = conn.execute(
                select(sub.c.township_code, sub.c.id, sub.c.file_name, sub.c.findings)
                .where(sub.c.rn == 1)
                .order_by(sub.c.township_code)
            ).all()
        records = [
            {"township_code": code, "submission_id": sid, "file_name": name, **finding}
            for code, sid, name, findings in rows
            for finding in findings or []
        ]
        return pd.DataFrame(records, columns=list(FINDING_COLUMNS), dtype=object)

    def unidentified(self, sources: Iterable[str]) -> pd.DataFrame:
        """Findings of recorded files at ``sources`` that name no township (FINDING_COLUMNS).

        Such files belong to no period, so the flow asks for the ones still in the inbox and
        shows them on every run until someone removes or replaces them.
        """
        sources = list(sources)
        if not sources:
            return empty_frame(FINDING_COLUMNS)
        s = Submission
        with self._reading() as conn:
            rows = conn.execute(  # ix_submission_unidentified: only the rows that name no township
                select(s.id, s.file_name, s.findings).where(s.township_code == "", s.source.in_(sources)).order_by(s.id)
            ).all()
        records = [
            {"township_code": "", "submission_id": sid, "file_name": name, **finding}
            for sid, name, findings in rows
            for finding in findings or []
        ]
        return pd.DataFrame(records, columns=list(FINDING_COLUMNS), dtype=object)

    def roster_units(self, period: str, shared_only: bool = False) -> pd.DataFrame:
        """USCC and name of every roster unit of the current returns of ``period``.

        ``shared_only``: just the units whose USCC appears in two or more townships' current
        rosters (what the county duplicate check needs), found by the database, so a city's
        hundreds of thousands of roster rows never have to be loaded.
        """
        period = str(Period(period))
        stmt = (
            select(CurrentReturn.township_code, RosterUnit.submission_id, RosterUnit.row, RosterUnit.uscc, RosterUnit.name)
            .join(RosterUnit, RosterUnit.submission_id == CurrentReturn.submission_id)
            .where(CurrentReturn.period == period)
            .order_by(CurrentReturn.township_code, RosterUnit.row)
        )
        if shared_only:
            shared = (
                select(RosterUnit.uscc)
                .join(CurrentReturn, RosterUnit.submission_id == CurrentReturn.submission_id)
                .where(CurrentReturn.period == period, RosterUnit.uscc.is_not(None), RosterUnit.uscc != "")
                .group_by(RosterUnit.uscc)
                .having(func.count(func.distinct(CurrentReturn.township_code)) > 1)
            )
            stmt = stmt.where(RosterUnit.uscc.in_(shared))
        return self._frame(stmt, UNIT_COLUMNS)

    def group_totals(self, period: str, dimensions: Iterable[str] = (DIM_UNIT_TYPE, DIM_ALL), *, as_float: bool = False) -> pd.DataFrame:
        """The current returns' per-return totals (``nianbao.grouping.GROUP_COLUMNS``) of ``dimensions``:
        ``value`` the exact decimal as text, or with ``as_float`` as float64 (what ``group_table`` sums)."""
        period = str(Period(period))
        t = DetailTotal
        stmt = (
            select(CurrentReturn.township_code, t.dimension, t.grp, t.measure, sa.type_coerce(t.value, String))
            .join(t, t.submission_id == CurrentReturn.submission_id)
            .where(CurrentReturn.period == period, t.dimension.in_(list(dimensions)))
            .order_by(CurrentReturn.township_code)
        )
        return self._frame(stmt, GROUP_COLUMNS, numbers=("value",) if as_float else ())

    def without_details(self, period: str) -> list[str]:
        """Townships whose current return was stored before roster details and group totals were
        kept (an older database): they cannot be reported upward until their file is stored again."""
        period = str(Period(period))
        has = select(DetailTotal.submission_id).where(DetailTotal.submission_id == CurrentReturn.submission_id).exists()
        has_units = select(RosterUnit.submission_id).where(RosterUnit.submission_id == CurrentReturn.submission_id).exists()
        has_rows = select(RosterDetail.submission_id).where(RosterDetail.submission_id == CurrentReturn.submission_id).exists()
        stmt = (
            select(CurrentReturn.township_code)
            .join(Submission, Submission.id == CurrentReturn.submission_id)
            .where(CurrentReturn.period == period, ~has | (has_units & ~has_rows))
            .order_by(CurrentReturn.township_code)
        )
        with self._reading() as conn:
            return list(conn.scalars(stmt))

    def roster_details(self, period: str) -> list[tuple[str, dict[str, Any]]]:
        """(township code, roster row as JSON) of every current return of ``period``, in order."""
        period = str(Period(period))
        stmt = (
            select(CurrentReturn.township_code, RosterDetail.data)
            .join(RosterDetail, RosterDetail.submission_id == CurrentReturn.submission_id)
            .where(CurrentReturn.period == period)
            .order_by(CurrentReturn.township_code, RosterDetail.row)
        )
        with self._reading() as conn:
            return [(code, data) for code, data in conn.execute(stmt).all()]

    def latest_decisions(self, period: str) -> pd.DataFrame:
        """The latest county decision per township for ``period``."""
        d = DecisionRow
        sub = _latest_per_township(
            d.township_code, d.decision, d.reason, d.decided_by, d.decided_at,
            table=d, order=(d.decided_at.desc(), d.id.desc()), where=d.period == str(Period(period)),
        )
        stmt = select(*(sub.c[c] for c in DECISION_COLUMNS)).where(sub.c.rn == 1).order_by(sub.c.township_code)
        out = self._frame(stmt, DECISION_COLUMNS)
        out["decided_at"] = pd.to_datetime(out["decided_at"], utc=True)
        return out

    def current_cells(self, period: str) -> pd.DataFrame:
        """Sheet, cell and 情况说明 of every indicator of the current returns (CELL_COLUMNS)."""
        period = str(Period(period))
        return self._frame(
            select(CurrentReturn.township_code, SummaryCell.submission_id, SummaryCell.indicator, SummaryCell.sheet, SummaryCell.cell, SummaryCell.note)
            .join(SummaryCell, SummaryCell.submission_id == CurrentReturn.submission_id)
            .where(CurrentReturn.period == period)
            .order_by(CurrentReturn.township_code, SummaryCell.indicator),
            CELL_COLUMNS,
        )

    def save_publish(self, period: str, snapshot: Mapping[str, Any], at: datetime) -> int:
        with self._sessions() as session:
            row = Publish(period=str(Period(period)), published_at=at, snapshot=dict(snapshot))
            session.add(row)
            session.commit()
            return row.id

    def last_publish(self, period: str) -> dict[str, Any] | None:
        """The snapshot of the latest consolidation of ``period`` (None before the first)."""
        with self._sessions() as session:
            row = session.scalar(
                select(Publish).where(Publish.period == str(Period(period))).order_by(Publish.published_at.desc(), Publish.id.desc()).limit(1)
            )
            return dict(row.snapshot) if row is not None else None

    def load_inputs(self, period: str, sources: Iterable[str] = ()) -> Inputs:
        """Everything consolidation needs for ``period``; ``sources`` are the inbox's file URLs."""
        period = str(Period(period))
        with self.snapshot():  # one consistent state, even while another period's run records files
            return Inputs(
                period=period,
                current=self.current_returns(period),
                previous=self.current_returns(Period(period).previous()),
                submissions=self.submissions(period),
                findings=self.latest_findings(period),
                units=self.roster_units(period, shared_only=True),
                decisions=self.latest_decisions(period),
                unidentified=self.unidentified(sources),
                cells=self.current_cells(period),
                groups=self.group_totals(period, as_float=True),  # 720 000 rows at 10 000 returns
            )

    # ---- run locks (see nianbao.runlock) ----------------------------------------------------

    def note_lock_holder(self, name: str, holder: str, since: datetime) -> None:
        with self._sessions() as session:
            session.merge(RunLockRow(name=name, holder=holder, since=since))
            session.commit()

    def lock_holder(self, name: str) -> tuple[str, datetime] | None:
        with self._reading() as conn:
            row = conn.execute(select(RunLockRow.holder, RunLockRow.since).where(RunLockRow.name == name)).first()
        return (row[0], row[1]) if row else None

    def clear_lock_holder(self, name: str, holder: str) -> None:
        with self._sessions() as session:
            session.execute(sa.delete(RunLockRow).where(RunLockRow.name == name, RunLockRow.holder == holder))
            session.commit()


def _file_problem(exc: DBAPIError) -> bool:
    """A database error caused by one file's values (not by the connection or the server).

    DataError: a value the column cannot hold (PostgreSQL: text with NUL characters, a number
    out of range). SQLSTATE class 54: a program limit (an index entry over PostgreSQL's 2.7 kB).
    """
    if isinstance(exc, DataError):
        return True
    return str(getattr(exc.orig, "sqlstate", "") or "").startswith("54")


def store_finding(exc: DBAPIError) -> Finding:
    """The finding recorded for a file the database refused (no value from the file in it)."""
    kind = getattr(exc.orig, "sqlstate", None) or type(exc.orig).__name__
    return error(
        "store.refused",
        f"文件内容无法存入数据库（数据库错误 {kind}）：文件中可能有异常字符或超长内容。"
        "请检查后重新报送；如多次出现，请联系县总工会。",
    )


def _clean(text: str) -> str:
    """A file name or path as a database can hold it: no NUL characters, at most 1000 characters."""
    return text.replace("\x00", "\ufffd")[:1000]


def _aware(value: datetime) -> datetime:
    """A datetime as the store compares it: aware UTC (naive means Beijing time)."""
    return (value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)).astimezone(timezone.utc)
