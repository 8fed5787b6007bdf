"""The store under concurrency on both backends: the current pointer, decisions, the run lock,
and one file's values never ending a batch."""

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from nianbao.runlock import RunLocked, run_lock
from nianbao.store import FileStatus, Store, open_store
from test_store import CODE, PERIOD, T0, batch_item, record, township_return


@pytest.fixture
def stores(db_url):
    """Two stores on the same database: two processes as far as the database can tell."""
    a, b = open_store(db_url), open_store(db_url)
    yield a, b
    a.close()
    b.close()


def pause_before_pointer(monkeypatch, file_name):
    """Hold the recording of ``file_name`` just before it moves the pointer, until released."""
    paused, go = threading.Event(), threading.Event()
    real = Store._maybe_make_current

    def held(self, session, sub):
        if sub.file_name == file_name:
            paused.set()
            go.wait(3)  # SQLite: the other writer queues behind this transaction until then
        return real(self, session, sub)

    monkeypatch.setattr(Store, "_maybe_make_current", held)
    return paused, go


@pytest.mark.parametrize("slow", ["older", "newer"])
def test_the_newest_valid_file_wins_whatever_the_interleaving(stores, monkeypatch, slow):
    a, b = stores
    first = record(a, "first")
    paused, go = pause_before_pointer(monkeypatch, f"{slow}.xlsx")
    at = {"older": T0 + timedelta(hours=1), "newer": T0 + timedelta(hours=2)}
    other = "newer" if slow == "older" else "older"
    results = {}
    t = threading.Thread(target=lambda: results.setdefault(slow, record(a, slow, at=at[slow])))
    t.start()
    assert paused.wait(5)
    results[other] = record(b, other, at=at[other])  # runs while the slow one is mid-transaction
    go.set()
    t.join()
    current = a.current_returns(PERIOD)["submission_id"].tolist()
    assert current == [results["newer"].submission_id]
    assert results["newer"].current and first.submission_id not in current
    assert len(b.submissions(PERIOD)) == 3


def test_the_same_decision_from_two_refreshes_at_once_is_stored_once(db_url):
    setup = open_store(db_url)
    record(setup, "v1")
    stores = [open_store(db_url) for _ in range(4)]
    start, ids, errors = threading.Barrier(4), [], []

    def decide(store):
        try:
            start.wait()
            ids.append(store.record_decision(CODE, PERIOD, "退回", "名册不全", by="张三", at=T0 + timedelta(days=1)))
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(ids)) == 1
    setup.record_decision(CODE, PERIOD, "通过", by="李四")  # a different decision is appended
    assert setup.latest_decisions(PERIOD)["decision"].tolist() == ["通过"]
    for s in [setup, *stores]:
        s.close()


def test_a_value_the_database_refuses_is_that_files_finding_not_the_batch_end(stores):
    a, _ = stores
    nul = township_return().model_copy(update={"roster": [township_return().roster[0].model_copy(update={"name": "甲\x00公司"})]})
    report, _, file = batch_item("nul", T0 + timedelta(hours=1))
    items = [batch_item("good"), (report, nul, file), batch_item("later", T0 + timedelta(hours=2))]
    good, odd, later = a.record_many(items)
    assert not good.already_known and later.current
    if a.engine.dialect.name == "postgresql":  # PostgreSQL text cannot hold NUL; SQLite can
        assert odd.status is FileStatus.UNREADABLE and odd.finding.code == "store.refused"
        assert "无法存入数据库" in odd.finding.message
        assert a.unidentified([file["source"]])["code"].tolist() == ["store.refused"]
    else:
        assert odd.finding is None
    again = a.record_many([items[1]])[0]  # the next run does not try the file again
    assert again.already_known and again.submission_id == odd.submission_id


HOLDER = """
import sys
from nianbao.runlock import run_lock
from nianbao.store import open_store
store = open_store(sys.argv[1])
with run_lock(store, "419901", "2025", purpose="测试汇总"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_waits_then_names_the_holder_and_since_when(db_url, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        store = open_store(db_url)
        started = time.monotonic()
        with pytest.raises(RunLocked) as refused:
            with run_lock(store, "419901", "2025", purpose="汇总", wait=1):
                pass
        assert time.monotonic() - started >= 1
        message = str(refused.value)
        assert f"进程 {holder.pid}" in message and "测试汇总" in message and "自 20" in message and "已等待 1 秒" in message
        assert "等待其结束（最多 1 秒）" in capsys.readouterr().err
        with run_lock(store, "419901", "2024", purpose="汇总", wait=0):
            pass  # another period is not blocked
    finally:
        holder.stdin.close()
        holder.wait(30)
    with run_lock(store, "419901", "2025", purpose="汇总", wait=5):  # released when the holder ended
        with run_lock(store, "419901", "2025", purpose="汇总", wait=0):  # re-entrant in one process
            pass
    store.close()


def test_cli_run_exits_75_while_another_run_holds_the_lock(db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nianbao.cli import app
    from nianbao.schemas.county import load_county

    county = load_county()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.replace('"419901"', f'"{county.county_code}"'), db_url],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("NIANBAO_LOCK_WAIT", "0.5")
        (tmp_path / "inbox").mkdir()  # a missing inbox would stop the run before the lock (exit 2)
        result = CliRunner().invoke(app, ["run", "--period", "2025", "--inbox", str(tmp_path / "inbox"), "--db", db_url,
                                          "--out", str(tmp_path / "out"), "--outbox", str(tmp_path / "outbox")])
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert result.exit_code == 75, result.output
    assert "测试汇总" in result.output and "本次未运行" in result.output
    assert not (tmp_path / "out").exists()
