"""The store on a real SQLite file and a real PostgreSQL server: history, idempotency, the
current pointer, decisions, runs."""

import hashlib
import sqlite3
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import create_mock_engine

from nianbao.consolidate import CURRENT_COLUMNS, LOCAL_TZ, FileStatus
from nianbao.store import Base, engine_url, make_engine, open_store
from nianbao.schemas.findings import Report, error, warning
from nianbao.schemas.models import Cover, LedgerRow, RosterRow, Summary, TownshipReturn

CODE, PERIOD = "419901100", "2025"
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
ID_NUMBER, PERSON = "410101199001011234", "王小花"


def township_return(code=CODE, **values):
    return TownshipReturn(
        cover=Cover(township_code=code, township_name="城关镇", period=PERIOD, fill_date=date(2026, 1, 4)),
        summary=Summary(**{"A07": 100, "A08": 40, "F03": Decimal("1317.31"), **values}),
        roster=[RosterRow(name="甲公司", uscc="91410100MA44XXXX1K"), RosterRow(name="乙公司", uscc=None)],
        ledger=[
            LedgerRow(name=PERSON, id_number=ID_NUMBER, amount=Decimal("500.00")),
            LedgerRow(name="李四", id_number="410101198001011235", amount=Decimal("1200.50")),
        ],
    )


def record(store, content, at=T0, findings=(), ret=..., readable=True, code=CODE):
    ret = township_return(code) if ret is ... else ret
    report = Report(file=f"{content}.xlsx", township=code if readable else None,
                    period=PERIOD if readable else None, readable=readable, findings=list(findings))
    return store.record(report, ret, sha256=hashlib.sha256(content.encode()).hexdigest(), size=len(content),
                        file_name=f"{content}.xlsx", source=f"/inbox/{content}.xlsx", received_at=at)


@pytest.fixture
def db(db_url):
    return db_url  # SQLite: the parent folder does not exist yet


@pytest.fixture
def sqlite_db(tmp_path):
    return tmp_path / "store" / "nianbao.db"


@pytest.fixture
def store(db):
    s = open_store(db)
    yield s
    s.close()


def dump(db):
    """Every row of every table, straight from the database (the store's own code not involved)."""
    engine = sa.create_engine(engine_url(db))
    try:
        with engine.connect() as conn:
            return {t.name: sorted((tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t.name}")), key=repr)
                    for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def test_open_store_creates_tables_and_reopens(db):
    open_store(db).close()
    assert set(dump(db)) == {"submissions", "summary_values", "roster_units", "roster_details", "detail_totals",
                             "current_returns", "decisions", "runs", "run_locks", "receipts_due",
                             "summary_cells", "publishes"}
    store = open_store(db)  # the schema is current: nothing to do
    assert store.submissions(PERIOD).empty
    store.close()


def test_a_path_and_a_url_open_the_same_sqlite_file(sqlite_db):
    open_store(sqlite_db).close()
    assert sqlite_db.exists()
    store = open_store(f"sqlite:///{sqlite_db}")
    assert store.submissions(PERIOD).empty
    store.close()


def test_the_same_file_again_changes_nothing(store, db):
    first = record(store, "v1")
    assert (first.already_known, first.status, first.current) == (False, FileStatus.ACCEPTED, True)
    before = dump(db)

    again = record(store, "v1", at=T0 + timedelta(days=3), findings=[warning("w", "新提示")])

    assert again.already_known and again.submission_id == first.submission_id and again.current
    assert dump(db) == before  # no new row, no changed timestamp anywhere


def test_a_newer_valid_file_supersedes_and_history_is_kept(store):
    old = record(store, "v1")
    new = record(store, "v2", at=T0 + timedelta(hours=1), ret=township_return(A07=120))
    assert new.current and new.superseded == old.submission_id

    current = store.current_returns(PERIOD)
    assert list(current.columns) == list(CURRENT_COLUMNS)
    assert current["submission_id"].tolist() == [new.submission_id]
    assert current.loc[0, "A07"] == 120 and current.loc[0, "F03"] == 1317.31
    subs = store.submissions(PERIOD)
    assert subs["submission_id"].tolist() == [old.submission_id, new.submission_id]  # nothing deleted
    assert subs["is_current"].tolist() == [False, True]


def test_an_older_file_recorded_later_does_not_supersede(store):
    new = record(store, "v2", at=T0 + timedelta(days=1))
    late_seen = record(store, "v1", at=T0)  # received earlier, processed later
    assert not late_seen.current
    assert store.current_returns(PERIOD)["submission_id"].tolist() == [new.submission_id]


def test_a_newer_invalid_file_is_recorded_but_does_not_supersede(store):
    valid = record(store, "v1")
    bad = record(store, "v2", at=T0 + timedelta(days=1), ret=township_return(A08=400),
                 findings=[error("le.A08", "「主要指标」D12 女职工 400 人大于职工 100 人", field="summary.A08")])
    unreadable = record(store, "v3", at=T0 + timedelta(days=2), ret=None, readable=False,
                        findings=[error("file.unreadable", "文件无法读取")])

    assert (bad.status, bad.current) == (FileStatus.REJECTED, False)
    assert (unreadable.status, unreadable.current) == (FileStatus.UNREADABLE, False)
    assert store.current_returns(PERIOD)["submission_id"].tolist() == [valid.submission_id]
    subs = store.submissions(PERIOD)
    assert subs["status"].tolist() == ["accepted", "rejected"]  # the unreadable one names no township/period
    assert subs["error_count"].tolist() == [0, 1]
    findings = store.latest_findings(PERIOD)
    assert findings[["submission_id", "code", "field"]].values.tolist() == [[bad.submission_id, "le.A08", "summary.A08"]]


def test_a_rejected_file_becoming_latest_shows_in_latest_findings_until_a_valid_one_arrives(store):
    record(store, "bad", findings=[error("x", "错")])
    assert store.current_returns(PERIOD).empty
    good = record(store, "good", at=T0 + timedelta(hours=2))
    assert good.current and store.latest_findings(PERIOD).empty


def test_money_is_stored_as_exact_decimal_text_and_no_personal_data(sqlite_db):
    db = sqlite_db
    store = open_store(db)
    record(store, "v1")
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT indicator, value FROM summary_values").fetchall())
        types = {row[0] for row in conn.execute("SELECT typeof(value) FROM summary_values")}
        ledger = conn.execute("SELECT ledger_rows, ledger_amount, typeof(ledger_amount) FROM submissions").fetchone()
    assert stored == {"A07": "100", "A08": "40", "F03": "1317.31"}  # blanks are not stored as 0
    assert types == {"text"}
    assert ledger == (2, "1700.50", "text")
    raw = db.read_bytes()
    for personal in (ID_NUMBER, PERSON, "李四"):
        assert personal.encode() not in raw
    units = store.roster_units(PERIOD)
    assert units[["row", "uscc", "name"]].values.tolist() == [[0, "91410100MA44XXXX1K", "甲公司"], [1, None, "乙公司"]]
    store.close()


def test_values_are_exact_text_on_both_backends(store, db):
    record(store, "v1")
    tables = dump(db)
    assert sorted(row[1:] for row in tables["summary_values"]) == [("A07", "100"), ("A08", "40"), ("F03", "1317.31")]


def test_times_are_utc_and_naive_input_is_beijing_time(store):
    record(store, "v1", at=datetime(2026, 1, 15, 23, 30))  # naive: Beijing wall clock
    received = store.submissions(PERIOD).loc[0, "received_at"]
    assert received == datetime(2026, 1, 15, 15, 30, tzinfo=timezone.utc)
    assert store.latest_received_at(PERIOD) == datetime(2026, 1, 15, 23, 30, tzinfo=LOCAL_TZ)


def test_decisions_are_appended_and_the_latest_one_is_returned(store):
    record(store, "v1")
    store.record_decision(CODE, PERIOD, "通过", by="张三", at=T0 + timedelta(hours=1))
    store.record_decision(CODE, PERIOD, "退回", "名册与主要指标不符", by="李四", at=T0 + timedelta(hours=2))
    latest = store.latest_decisions(PERIOD)
    assert latest[["township_code", "decision", "reason", "decided_by"]].values.tolist() == [
        [CODE, "退回", "名册与主要指标不符", "李四"]]
    with pytest.raises(ValueError, match="应为「通过」或「退回」"):
        store.record_decision(CODE, PERIOD, "同意", by="张三")
    with pytest.raises(ValueError, match="必须填写退回原因"):
        store.record_decision(CODE, PERIOD, "退回", "  ", by="张三")


def test_runs_tell_the_time_of_data_and_whether_newer_files_arrived(store):
    assert store.last_run(PERIOD) is None
    record(store, "v1")
    run_id = store.start_run(PERIOD, at=T0 + timedelta(hours=1))
    unfinished = store.start_run(PERIOD, at=T0 + timedelta(hours=3))  # crashed run: not "the last run"
    store.finish_run(run_id, {"expected": 18, "received": 1, "valid": 1}, at=T0 + timedelta(hours=1, seconds=2))
    last = store.last_run(PERIOD)
    assert (last.id, last.started_at, last.counts["expected"], last.counts["missing"]) == (
        run_id, T0 + timedelta(hours=1), 18, None)
    assert last.id != unfinished
    assert store.latest_received_at(PERIOD) < last.started_at
    record(store, "v2", at=T0 + timedelta(hours=2))
    assert store.latest_received_at(PERIOD) > last.started_at
    with pytest.raises(ValueError):
        store.finish_run(run_id, {"bogus": 1})


def test_url_handling_sqlite_paths_and_postgres_urls(tmp_path):
    assert engine_url(tmp_path / "a.db").drivername == "sqlite"
    # psycopg 3, the driver the postgres extra installs (SQLAlchemy's default would be psycopg2)
    assert engine_url("postgres://u:p@db.example/nianbao").drivername == "postgresql+psycopg"
    assert engine_url("postgresql://u:p@db.example/nianbao").drivername == "postgresql+psycopg"
    assert engine_url("postgresql+psycopg2://u:p@db.example/nianbao").drivername == "postgresql+psycopg2"
    assert engine_url("postgresql+psycopg://u:p@db.example/nianbao").get_backend_name() == "postgresql"


def test_schema_is_valid_postgresql_ddl():
    statements = []
    mock = create_mock_engine(engine_url("postgresql+psycopg://u:p@db.example/nianbao"),
                              lambda sql, *a, **k: statements.append(str(sql.compile(dialect=mock.dialect))))
    Base.metadata.create_all(mock, checkfirst=False)
    ddl = "\n".join(statements)
    assert ddl.count("CREATE TABLE") == 12
    assert "CHECK (status IN ('accepted', 'rejected', 'unreadable'))" in ddl
    assert "sqlite" not in ddl.lower()


def test_postgres_engine_is_created_lazily():
    engine = make_engine("postgres://u:p@127.0.0.1:1/nianbao")  # nothing listens there
    assert engine.dialect.name == "postgresql" and engine.pool.checkedout() == 0


def batch_item(content, at=T0, code=CODE):
    report = Report(file=f"{content}.xlsx", township=code, period=PERIOD)
    file = dict(sha256=hashlib.sha256(content.encode()).hexdigest(), size=len(content), file_name=f"{content}.xlsx",
                source=f"/inbox/{content}.xlsx", received_at=at)
    return report, township_return(code), file


def test_a_batch_is_one_transaction_with_the_same_rules_as_one_by_one(store, db):
    items = [batch_item("a"), batch_item("b", T0 + timedelta(hours=1)), batch_item("a")]
    first, second, again = store.record_many(items)
    assert not first.already_known and not second.already_known
    assert again.already_known and again.submission_id == first.submission_id
    assert second.current and second.superseded == first.submission_id
    assert len(dump(db)["submissions"]) == 2


def test_a_batch_meeting_a_file_recorded_elsewhere_falls_back_to_one_by_one(store, db, monkeypatch):
    recorded_elsewhere = record(store, "b")
    real_known, calls = type(store)._known, []

    def blind_at_first(self, *args):
        # The race: while the batch checks, it cannot see the other process's row yet.
        calls.append(args)
        return None if len(calls) <= 2 else real_known(self, *args)

    monkeypatch.setattr(type(store), "_known", blind_at_first)
    c, b = store.record_many([batch_item("c"), batch_item("b")])
    assert not c.already_known
    assert b.already_known and b.submission_id == recorded_elsewhere.submission_id
    assert len(dump(db)["submissions"]) == 2


def test_shared_units_are_found_by_the_database(store):
    shared = "91410100MA44XXXX1K"
    record(store, "a", code="419901100")
    record(store, "b", code="419901101")
    other = township_return("419901102").model_copy(update={"roster": [RosterRow(name="丙公司", uscc="91410100MA44ZZZZ3M")]})
    record(store, "c", code="419901102", ret=other)
    units = store.roster_units(PERIOD, shared_only=True)
    assert sorted(units["township_code"]) == ["419901100", "419901101"]
    assert set(units["uscc"]) == {shared}
    assert len(store.roster_units(PERIOD)) == 5


def test_group_totals_as_floats_are_the_exact_text_converted(store, monkeypatch):
    """The consolidation's group totals come as float64, converted chunk by chunk; the same
    numbers as the exact text (what report_up reads) converted at once, in the same order."""
    import pandas as pd

    from nianbao import store as store_module

    monkeypatch.setattr(store_module, "_CHUNK", 3)  # several chunks even for a few returns
    for i in range(4):
        rows = [RosterRow(name=f"单位{j}", uscc=None, employees=j * 9 + i, members=j * 7 + i, dues_amount=Decimal(f"{j}.{i}5")) for j in range(3)]
        record(store, f"g{i}", code=f"41990110{i}", ret=township_return(f"41990110{i}").model_copy(update={"roster": rows}))
    text = store.group_totals(PERIOD)
    floats = store.group_totals(PERIOD, as_float=True)
    assert len(text) > 3 * 3 and text["value"].map(type).eq(str).all()
    assert floats["value"].dtype == "float64"
    assert floats.drop(columns="value").equals(text.drop(columns="value"))
    assert floats["value"].tolist() == pd.to_numeric(text["value"], errors="coerce").astype("float64").tolist()
