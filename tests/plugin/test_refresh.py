"""The 刷新汇总 button end to end: the demo county in a real SQLite store, real inbox files,
real receipts, and xlwings' JSON-backed book standing in for the workbook open in Excel."""

from __future__ import annotations

import getpass
import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from nianbao.consolidate import LOCAL_TZ
from nianbao.demo import build_demo
from nianbao.pipeline import run_once
from nianbao.settings import SETTINGS_ENV, SETTINGS_PATH_ENV, Settings, SettingsError, load_settings
from nianbao.store import open_store
from nianbao.plugin import main, refresh
from nianbao.plugin.refresh import BookError
from test_xlwriter import SHEETS as BUILT_SHEETS, review_on, typed
from nianbao.workbooks.layout import Ref
from nianbao.workbooks.master_layout import NB_COUNTY_CODE, NB_REVIEW_DECISION, NB_STATUS, defined_names, master_sheets
from nianbao.workbooks.receipt import RECEIPT_SHEET, receipt_name
from nianbao.workbooks.sample import write_sample_return

# A consolidation from the store also carries 分组汇总 (the built ones of test_xlwriter do not).
SHEETS = [*BUILT_SHEETS[:2], "分组汇总", *BUILT_SHEETS[2:]]

PERIOD = "2025"
NIGHT = datetime(2026, 2, 1, 2, 0)  # the nightly run that filled the store (Beijing time)
LATER = datetime(2026, 2, 1, 9, 30)  # county staff press 刷新汇总
REASON = "女职工人数与名册合计不符，请核实后重新报送"


@pytest.fixture(autouse=True)
def no_settings_from_outside(monkeypatch, tmp_path):
    """No settings file or variable of the machine running the tests; home and the working
    folder (where Settings' relative defaults point, as in Excel) are temp folders."""
    for var in (SETTINGS_PATH_ENV, *SETTINGS_ENV.values()):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory):
    """The demo county built once; each test copies it and runs the nightly job on the copy."""
    return build_demo(tmp_path_factory.mktemp("demo-src"), roster_rows=4, ledger_rows=2)


@pytest.fixture
def county(demo_source, tmp_path) -> SimpleNamespace:
    root = tmp_path / "county"
    shutil.copytree(demo_source.config_path.parent, root, copy_function=shutil.copy2)
    settings = Settings(
        config=str(root / "county.toml"),
        inbox=str(root / "inbox"),
        db=f"sqlite:///{root / 'nianbao.db'}",
        out=str(root / "out"),
        outbox=str(root / "outbox"),
    )
    nightly = run_once(settings, PERIOD, NIGHT)
    store = open_store(settings.db)
    yield SimpleNamespace(plan=demo_source, root=root, settings=settings, nightly=nightly, store=store)
    store.close()


def reported(c, n: int) -> list[str]:
    """The first ``n`` township codes whose return is in (已报)."""
    st = c.status
    return st.loc[st["status"] == "已报", "township_code"].tolist()[:n]


def status_of(c, code: str) -> str:
    return c.status.set_index("township_code").loc[code, "status"]


def alerts(book, xl) -> list[dict]:
    return xl.actions(book, "alert")


def put_in_inbox(root: Path, town, seed: int, received: float) -> Path:
    path = write_sample_return(root / "inbox" / PERIOD / f"{town.name}更正{seed}.xlsx", town, PERIOD, seed=seed, roster_rows=4, ledger_rows=2)
    os.utime(path, (received, received))
    return path


def assert_like_the_file(xl, payload: dict, book, master: Path) -> None:
    result = xl.replay(payload, book.json()["actions"])
    nightly = xl.xlsx_grids(master)
    for sheet in SHEETS:
        got, expected = result.grid(sheet), xl.wired(nightly[sheet])
        if sheet == "变动情况":
            # The nightly run's 变动情况 compares with the publish before it, the refresh's with
            # the nightly publish itself. Same layout, its own content.
            assert got[CHANGES_HEADER_ROW - 1] == expected[CHANGES_HEADER_ROW - 1]
            assert got[3][0] == "变动概况" and got[3][1]
            continue
        xl.assert_same_cells(sheet, got, expected)


CHANGES_HEADER_ROW = 6  # 变动情况: title, stamp, 上次发布, 变动概况, blank, header

# --- the values ---------------------------------------------------------------------------------


def test_refresh_of_an_empty_book_writes_what_the_nightly_publish_wrote(county, json_book, xl):
    runs_before = county.store.last_run(PERIOD).id
    files_before = len(county.store.submissions(PERIOD))
    payload = xl.empty_payload()
    book = json_book(payload)

    result = refresh(book, county.settings, now=NIGHT)

    assert_like_the_file(xl, payload, book, county.nightly.master)
    replayed = xl.replay(payload, book.json()["actions"])
    assert replayed.sheets == ["Sheet1", *SHEETS]
    assert replayed.names == defined_names(master_sheets(result.consolidation))
    # So the comparison cannot pass on two empty grids: the missing township's row says 未报.
    missing = county.plan.county.township(county.plan.missing[0])
    status = {row[0]: row for row in replayed.grid("报送情况") if row and row[0]}
    assert status[missing.code][1:3] == [missing.name, "否"] and "未报" in status[missing.code]
    # Read from the store: nothing re-validated, one consolidation run recorded.
    assert not result.consolidated_first and result.new_files == 0
    assert len(county.store.submissions(PERIOD)) == files_before
    assert county.store.last_run(PERIOD).id == runs_before + 1
    assert result.missing == (missing.name,)
    (alert,) = alerts(book, xl)
    assert alert["args"][0] == result.message and alert["args"][3] == "info"
    for text in ("数据截至 2026-02-01 02:00", "收件箱没有新文件", f"未报：{missing.name}", f"报送情况 {len(county.plan.county.townships)} 行"):
        assert text in result.message, text


def test_rows_left_over_from_a_longer_result_are_cleared(county, json_book, xl):
    # A night with two unreadable files in the inbox: two more 审核问题 rows in the master.
    junk = [county.root / "inbox" / PERIOD / f"坏文件{i}.xlsx" for i in (1, 2)]
    for path in junk:
        path.write_bytes(b"PK\x03\x04 not a workbook: " + path.name.encode())  # two different files
    longer = run_once(county.settings, PERIOD, NIGHT)
    payload = xl.payload_from_xlsx(longer.master)
    for path in junk:  # staff remove them from the inbox
        path.unlink()
    book = json_book(payload)

    result = refresh(book, county.settings, now=LATER)

    assert result.written.cleared["审核问题"] == 2 and result.written.cleared["分乡镇"] == 0
    assert "已清除上次多出的行：审核问题 2 行" in result.message
    (clear,) = xl.actions(book, "rangeClear", "审核问题")
    assert clear["row_count"] == 2
    # Cell by cell what tonight's publish writes for the same data.
    assert_like_the_file(xl, payload, book, run_once(county.settings, PERIOD, LATER).master)


# --- county decisions typed in Excel -------------------------------------------------------------


def test_typed_decisions_are_stored_kept_and_explained_in_the_receipt(county, json_book, xl):
    approved, returned = reported(county.nightly.consolidation, 2)
    payload = xl.payload_from_xlsx(county.nightly.master)
    typed(payload, approved, "通过", "")
    typed(payload, returned, "退回", REASON)
    book = json_book(payload)

    result = refresh(book, county.settings, now=LATER)

    # Stored with who and when.
    assert [(d.township_code, d.decision, d.reason) for d in result.decisions] == [
        (approved, "通过", ""), (returned, "退回", REASON)
    ]
    stored = county.store.latest_decisions(PERIOD).set_index("township_code")
    assert stored.loc[returned, ["decision", "reason"]].tolist() == ["退回", REASON]
    assert set(stored["decided_by"]) == {getpass.getuser()}
    assert all(at == LATER.replace(tzinfo=LOCAL_TZ) for at in stored["decided_at"])
    # The returned township is 退回 in the results; the approved one stays 已报.
    c = result.consolidation
    assert status_of(c, returned) == "退回" and status_of(c, approved) == "已报"
    assert c.status_counts["退回"] == county.nightly.consolidation.status_counts["退回"] + 1
    # What staff typed is still in the book, and the row shows 退回.
    replayed = xl.replay(payload, book.json()["actions"])
    assert review_on(replayed, returned) == ("退回", REASON)
    assert review_on(replayed, approved) == ("通过", None)
    row = next(r for r in replayed.grid("报送情况") if r and r[0] == returned)
    assert "退回" in row[:9]
    # The receipt tells the township why.
    town = county.plan.county.township(returned)
    receipt = county.root / "outbox" / receipt_name(returned, town.name, PERIOD)
    assert receipt in result.receipts
    sheet = load_workbook(receipt)[RECEIPT_SHEET]
    lines = {r[0]: r[2] for r in sheet.iter_rows(values_only=True) if r and r[0]}  # label A:B, value C:E
    assert lines["县总工会审核意见"] == f"退回：{REASON}" and lines["审核结论"] == "退回"
    ok = load_workbook(county.root / "outbox" / receipt_name(approved, county.plan.county.township(approved).name, PERIOD))
    assert {r[0]: r[2] for r in ok[RECEIPT_SHEET].iter_rows(values_only=True) if r and r[0]}["县总工会审核意见"] == "通过"
    assert "已保存审核意见 2 条" in result.message

    # Pressing the button again stores nothing new: the entries equal the stored decisions.
    again = refresh(json_book(payload), county.settings, now=LATER + timedelta(minutes=5))
    assert again.decisions == () and again.refused == ()
    assert county.store.latest_decisions(PERIOD)["decided_at"].tolist() == stored["decided_at"].tolist()


def test_sent_back_without_a_reason_is_not_stored(county, json_book, xl):
    (code,) = reported(county.nightly.consolidation, 1)
    payload = xl.payload_from_xlsx(county.nightly.master)
    typed(payload, code, "退回", "")
    book = json_book(payload)

    result = refresh(book, county.settings, now=LATER)

    assert result.decisions == () and county.store.latest_decisions(PERIOD).empty
    assert status_of(result.consolidation, code) == "已报"
    (message,) = result.refused
    names = {n["name"]: n for n in payload["names"]}
    first = Ref.parse(f"X!{names[NB_STATUS]['address']}").row
    row = first + [t.code for t in county.plan.county.townships].index(code)
    column = names[NB_REVIEW_DECISION]["address"].rstrip("0123456789")
    town = county.plan.county.township(code)
    assert message.startswith(f"「报送情况」{column}{row} {town.name}（{code}）：")
    assert "退回必须写明理由" in message and "未保存" in message
    assert message in alerts(book, xl)[0]["args"][0]
    # The entry stays in the book for staff to add the reason.
    assert review_on(xl.replay(payload, book.json()["actions"]), code) == ("退回", None)


def test_a_decision_about_a_file_since_replaced_is_not_stored(county, json_book, xl):
    (code,) = reported(county.nightly.consolidation, 1)
    payload = xl.payload_from_xlsx(county.nightly.master)
    typed(payload, code, "通过", "")
    put_in_inbox(county.root, county.plan.county.township(code), 777, time.time())  # resubmitted since
    book = json_book(payload)

    result = refresh(book, county.settings, now=LATER)

    assert result.consolidated_first and result.decisions == ()
    assert county.store.latest_decisions(PERIOD).empty
    assert "该乡镇此后报送了「" in result.refused[0] and "请审核新文件后重新填写" in result.refused[0]
    assert review_on(xl.replay(payload, book.json()["actions"]), code) == (None, None)


# --- consolidating first, only when the inbox has something new ------------------------------------


@pytest.mark.parametrize("received", ["now", "before the nightly run"])
def test_new_inbox_file_is_consolidated_first_and_only_then(county, json_book, xl, received):
    town = county.plan.county.townships[1]
    # Explorer keeps a copied file's modified time, so "new" cannot mean "modified after the run".
    stamp = time.time() if received == "now" else (NIGHT - timedelta(days=3)).replace(tzinfo=LOCAL_TZ).timestamp()
    put_in_inbox(county.root, town, 4242, stamp)
    files_before = len(county.store.submissions(PERIOD))
    master_before = county.nightly.master.read_bytes()
    payload = xl.payload_from_xlsx(county.nightly.master)
    book = json_book(payload)

    result = refresh(book, county.settings, now=LATER)

    assert result.consolidated_first and result.new_files == 1
    assert "收件箱有 1 个新文件，已先审核入库并重新汇总" in result.message
    assert len(county.store.submissions(PERIOD)) == files_before + 1
    before = county.nightly.consolidation.by_township.set_index("township_code")
    after = result.consolidation.by_township.set_index("township_code")
    assert not before.loc[town.code].equals(after.loc[town.code])
    # The nightly file itself is left to the nightly run (it may be the book open in Excel).
    assert county.nightly.master.read_bytes() == master_before
    # The township got its receipt for the new file.
    assert (county.root / "outbox" / receipt_name(town.code, town.name, PERIOD)).exists()

    # Pressed again: nothing new in the inbox, so nothing is validated; one run from the store.
    run_before = county.store.last_run(PERIOD).id
    again = refresh(json_book(payload), county.settings, now=LATER + timedelta(minutes=1))
    assert not again.consolidated_first and again.new_files == 0
    assert len(county.store.submissions(PERIOD)) == files_before + 1
    assert county.store.last_run(PERIOD).id == run_before + 1
    assert again.consolidation.totals.equals(result.consolidation.totals)


# --- which book, which settings -----------------------------------------------------------------------


def test_the_books_own_period_is_refreshed(county, json_book, xl):
    previous = run_once(county.settings, "2024", NIGHT)
    book = json_book(xl.payload_from_xlsx(previous.master))
    result = refresh(book, county.settings, now=NIGHT)
    assert result.period == "2024"
    assert result.consolidation.totals.equals(previous.consolidation.totals)


def test_a_book_of_another_county_is_not_overwritten(county, json_book, xl):
    payload = xl.payload_from_xlsx(county.nightly.master)
    names = {n["name"]: n for n in payload["names"]}
    ref = Ref.parse(f"X!{names[NB_COUNTY_CODE]['address']}")
    payload["sheets"][names[NB_COUNTY_CODE]["sheet_index"]]["values"][ref.row - 1][ref.col - 1] = "419902"
    book = json_book(payload)
    with pytest.raises(BookError, match="单位代码 419902 的汇总表"):
        refresh(book, county.settings, now=LATER)
    assert book.json()["actions"] == []


def test_settings_file_paths_count_from_its_folder(county, json_book, xl, monkeypatch, tmp_path):
    settings = county.root / "nianbao.toml"
    settings.write_text(
        'config = "county.toml"\ninbox = "inbox"\ndb = "nianbao.db"\nout = "out"\noutbox = "outbox"\n', encoding="utf-8"
    )
    monkeypatch.setenv(SETTINGS_PATH_ENV, str(settings))
    book = json_book(xl.payload_from_xlsx(county.nightly.master))

    result = refresh(book, now=NIGHT)

    assert result.settings_file == settings and f"设置文件：{settings}" in result.message
    assert not result.consolidated_first  # the same store and inbox as the nightly run
    assert result.consolidation.totals.equals(county.nightly.consolidation.totals)
    # A variable wins over the file; the per-user file is found without any variable.
    monkeypatch.setenv("NIANBAO_OUTBOX", "D:/回执")
    assert load_settings(settings).outbox == "D:/回执"
    assert load_settings(settings).db == str(county.root / "nianbao.db")
    monkeypatch.delenv(SETTINGS_PATH_ENV)
    home = Path(os.environ["HOME"]) / ".nianbao"
    home.mkdir(parents=True)
    (home / "nianbao.toml").write_text(  # absolute paths here: the data is not beside this file
        "".join(f"{key} = '{county.root / name}'\n" for key, name in (("config", "county.toml"), ("db", "nianbao.db"))),
        encoding="utf-8",
    )
    assert refresh(json_book(xl.empty_payload()), now=NIGHT).settings_file == home / "nianbao.toml"


def test_a_settings_file_with_an_unknown_key_says_which(tmp_path):
    path = tmp_path / "nianbao.toml"
    path.write_text('database = "x.db"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="不认识的设置项：database"):
        load_settings(path, env={})


# --- the button -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "broken, expected",
    [
        ("NIANBAO_CONFIG", "找不到县配置文件"),
        (SETTINGS_PATH_ENV, "设置文件不存在"),
    ],
)
def test_main_shows_a_chinese_alert_instead_of_a_traceback(county, json_book, xl, monkeypatch, tmp_path, broken, expected):
    import xlwings as xw

    monkeypatch.setenv(broken, str(tmp_path / "张三的文件夹" / "nowhere.toml"))
    book = json_book(xl.payload_from_xlsx(county.nightly.master))
    book.set_mock_caller()  # what xw.Book.caller() returns when Excel did not call
    try:
        main()  # must not raise
    finally:
        del xw.Book._mock_caller

    (alert,) = alerts(book, xl)
    prompt, title, _, mode, _ = alert["args"]
    assert prompt.startswith("刷新未完成：") and expected in prompt and "Traceback" not in prompt
    assert (title, mode) == ("工会年报 · 刷新汇总", "critical")
    assert xl.actions(book, "setValues") == []
    log = (Path(os.environ["HOME"]) / ".nianbao" / "refresh.log").read_text(encoding="utf-8")
    assert "refresh failed:" in log and "refresh.py" in log
    assert "张三" not in log and str(tmp_path) not in log  # no names, no paths


def test_main_refreshes_the_calling_book_and_logs_counts_only(county, json_book, xl, monkeypatch):
    import xlwings as xw

    settings = county.root / "nianbao.toml"
    settings.write_text("config = 'county.toml'\ndb = 'nianbao.db'\noutbox = 'outbox'\n", encoding="utf-8")
    monkeypatch.setenv(SETTINGS_PATH_ENV, str(settings))
    payload = xl.payload_from_xlsx(county.nightly.master)
    (code,) = reported(county.nightly.consolidation, 1)
    typed(payload, code, "通过", "")
    book = json_book(payload)
    book.set_mock_caller()
    try:
        main()
    finally:
        del xw.Book._mock_caller

    (alert,) = alerts(book, xl)
    assert alert["args"][3] == "info" and "汇总已刷新" in alert["args"][0]
    assert len(xl.actions(book, "setValues")) == len(SHEETS)
    assert county.store.latest_decisions(PERIOD)["decided_by"].tolist() == [getpass.getuser()]
    log = (Path(os.environ["HOME"]) / ".nianbao" / "refresh.log").read_text(encoding="utf-8")
    assert f"refreshed 2025: {len(SHEETS)} sheets" in log and "1 decisions stored" in log
    assert getpass.getuser() not in log.replace("plugin.refresh", "") and code not in log
