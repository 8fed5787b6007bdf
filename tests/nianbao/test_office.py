"""The county office folder: init, runs in it, a locked master workbook, 审核意见 saved in the file,
catch-up. Real files, a real SQLite database, the plain run (no Prefect server is running)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import nianbao.workbooks.atomic as atomic
from nianbao.cli import app
from nianbao.demo import build_demo
from nianbao.jobs import Schedule, catch_up_due
from nianbao.office import GUIDE_FILE, init_office
from nianbao.pipeline import run_once
from nianbao.settings import SETTINGS_FILE, load_settings, settings_file
from nianbao.store import open_store
from nianbao.summary import run_notes, summary_markdown
from nianbao.workbooks.layout import Ref
from nianbao.workbooks.master_layout import NB_REVIEW_DECISION, NB_REVIEW_REASON, NB_STATUS

PERIOD = "2025"


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("office-src")
    plan = build_demo(root, roster_rows=4, ledger_rows=2)
    init_office(root, root / "county.toml")
    return plan, root


@pytest.fixture
def county_office(demo_source, tmp_path):
    plan, source = demo_source
    root = tmp_path / "office"
    shutil.copytree(source, root, copy_function=shutil.copy2)
    return plan, root


@pytest.fixture
def home(tmp_path, monkeypatch):
    """No per-user settings file and no settings variables leak in from the machine."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))
    for var in ("NIANBAO_SETTINGS", "NIANBAO_INBOX", "PREFECT_API_URL"):
        monkeypatch.delenv(var, raising=False)


def settings_of(root: Path):
    return load_settings(root / SETTINGS_FILE)


def review_cells(path: Path, code: str):
    """The 审核意见 and 审核理由 cells of a township's row, found through the defined names."""
    wb = load_workbook(path)
    status = Ref.parse(wb.defined_names[NB_STATUS].attr_text)
    ws = wb[status.sheet]
    row = next(r for r in range(status.row, ws.max_row + 1) if str(ws.cell(r, status.col).value) == code)
    cols = [Ref.parse(wb.defined_names[n].attr_text).col for n in (NB_REVIEW_DECISION, NB_REVIEW_REASON)]
    return wb, ws, [ws.cell(row, c) for c in cols]


def type_and_save(path: Path, entries: dict[str, tuple[str, str]], who: str) -> dict[str, str]:
    """What county staff do in WPS or LibreOffice: type 审核意见 and save the file. Returns each
    township's 审核意见 cell (e.g. J7)."""
    wb = load_workbook(path)
    where = {}
    for code, (decision, reason) in entries.items():
        _, _, (d, r) = review_cells(path, code)
        ws = wb[d.parent.title]
        ws[d.coordinate], ws[r.coordinate] = decision, reason or None
        where[code] = d.coordinate
    wb.properties.lastModifiedBy = who
    wb.save(path)
    return where


def test_init_creates_an_office_folder_and_refuses_to_overwrite(tmp_path, home):
    result = CliRunner().invoke(app, ["init", str(tmp_path / "县总工会")])
    assert result.exit_code == 0, result.output
    root = tmp_path / "县总工会"
    for name in ("inbox", "out", "outbox", "nianbao.db", "county.toml", SETTINGS_FILE, GUIDE_FILE):
        assert (root / name).exists(), name
    settings = settings_of(root)
    assert Path(settings.inbox) == (root / "inbox").resolve()
    assert settings.db == f"sqlite:///{(root / 'nianbao.db').resolve()}"
    assert "nianbao run" in (root / GUIDE_FILE).read_text(encoding="utf-8")
    # the Excel button finds the office's settings from the master workbook's folder, out/
    assert settings_file(near=root / "out") == root / SETTINGS_FILE
    again = CliRunner().invoke(app, ["init", str(root)])
    assert again.exit_code == 2 and "已有设置文件" in again.output


def test_run_without_settings_says_where_it_looked(tmp_path, home, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run"], terminal_width=200)
    assert result.exit_code == 2
    assert "找不到设置文件" in result.output and str(tmp_path / SETTINGS_FILE) in result.output
    assert "nianbao init" in result.output


def test_empty_inbox_says_so_and_missing_inbox_publishes_nothing(tmp_path, home, monkeypatch):
    init_office(tmp_path / "o")
    monkeypatch.chdir(tmp_path / "o")
    empty = CliRunner().invoke(app, ["run"], terminal_width=200)
    assert empty.exit_code == 0, empty.output
    assert "收件箱中没有报表文件" in empty.output and "未报 18" in empty.output

    shutil.rmtree(tmp_path / "o" / "out")
    (tmp_path / "o" / "inbox").rmdir()
    missing = CliRunner().invoke(app, ["run"], terminal_width=200)
    assert missing.exit_code == 2
    assert "收件箱不存在" in missing.output and "未发布" in missing.output
    assert not (tmp_path / "o" / "out").exists()


def test_run_in_the_office_folder_prints_a_chinese_summary(county_office, home, monkeypatch):
    plan, root = county_office
    monkeypatch.chdir(root)
    first = CliRunner().invoke(app, ["run"], terminal_width=200)
    assert first.exit_code == 0, first.output
    assert "本次新文件 36 个" in first.output and "回执 35 份（本次新增 35 份）" in first.output
    again = CliRunner().invoke(app, ["run"], terminal_width=200)
    assert "本次新文件 0 个" in again.output and "回执 35 份（本次新增 0 份）" in again.output
    assert str((root / "out").resolve()) in again.output and "未报 1" in again.output
    for word in ("Task run", "Flow run", "temporary server", "INFO"):
        assert word not in again.output


def test_help_documents_the_exit_codes():
    for command in ("run", "serve"):
        result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
        flat = "".join(ch for ch in result.output if not ch.isspace() and ch != "│")  # rich wraps the help text
        assert "退出码" in flat and "2设置" in flat and "75同一县" in flat


def test_reviews_saved_in_the_master_file_are_stored_like_the_button_stores_them(county_office):
    plan, root = county_office
    settings = settings_of(root)
    master = run_once(settings, PERIOD).master
    sent_back, no_reason = plan.county.townships[0], plan.county.townships[1]
    where = type_and_save(master, {sent_back.code: ("退回", "职工人数与名册不符"), no_reason.code: ("退回", "")}, who="张科长")

    result = run_once(settings, PERIOD)
    stored = result.reviews.outcome.stored
    assert [(d.township_code, d.decision, d.reason) for d in stored] == [(sent_back.code, "退回", "职工人数与名册不符")]
    store = open_store(settings.db)
    decisions = store.latest_decisions(PERIOD).set_index("township_code")
    store.close()
    assert decisions.loc[sent_back.code, "decided_by"] == "张科长"
    saved_at = decisions.loc[sent_back.code, "decided_at"]
    assert abs(saved_at - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert no_reason.code not in decisions.index
    (refused,) = result.reviews.outcome.refused
    assert f"「报送情况」{where[no_reason.code]}" in refused and "理由为空" in refused
    assert any("张科长" in n for n in run_notes(result)) and any(where[no_reason.code] in n for n in run_notes(result))

    status = result.consolidation.status.set_index("township_code")
    assert status.loc[sent_back.code, "status"] == "退回"
    receipt = root / "outbox" / f"{sent_back.code}_{sent_back.name}_{PERIOD}_回执.xlsx"
    text = [c.value for row in load_workbook(receipt)["回执"].iter_rows() for c in row]
    assert any(isinstance(v, str) and "职工人数与名册不符" in v for v in text)
    # the next run finds the same entries already stored: nothing new, nothing lost
    third = run_once(settings, PERIOD)
    assert third.reviews.outcome.stored == [] and review_cells(third.master, sent_back.code)[2][0].value == "退回"


def test_a_locked_master_is_written_beside_and_its_reviews_are_kept(county_office, monkeypatch):
    plan, root = county_office
    settings = settings_of(root)
    master = run_once(settings, PERIOD).master
    town = plan.county.townships[2]
    type_and_save(master, {town.code: ("退回", "请补报名册")}, who="李会计")
    before = master.read_bytes()
    real_replace = atomic.os.replace

    def locked(src, dst):  # what Windows does while Excel or WPS holds the file open
        if Path(dst) == master:
            raise PermissionError(13, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", locked)
    result = run_once(settings, PERIOD)
    assert result.master != master and result.master.parent == master.parent
    assert result.master.name.startswith(master.stem + "_") and result.master.exists()
    assert master.read_bytes() == before
    assert review_cells(result.master, town.code)[2][0].value == "退回"
    notes = run_notes(result)
    assert any("正被打开" in n and result.master.name in n for n in notes)
    assert result.master.name in summary_markdown(result.consolidation, result)

    monkeypatch.setattr(atomic.os, "replace", real_replace)
    after = run_once(settings, PERIOD)
    assert after.master == master and master.read_bytes() != before
    assert review_cells(master, town.code)[2][0].value == "退回"
    assert not any("正被打开" in n for n in run_notes(after))


def test_catch_up_when_the_last_run_is_older_than_one_period(county_office):
    plan, root = county_office
    settings = settings_of(root)
    nightly = Schedule(cron="0 2 * * *", timezone="Asia/Shanghai")
    assert nightly.period() == timedelta(days=1)
    assert catch_up_due(settings, nightly.period()) == (True, None)  # never ran
    run_once(settings, PERIOD)
    due, last = catch_up_due(settings, nightly.period())
    assert not due and last is not None
    due, _ = catch_up_due(settings, nightly.period(), now=datetime.now(timezone.utc) + timedelta(days=1, minutes=1))
    assert due
    assert Schedule(every=30).period() == timedelta(seconds=30)


def test_a_run_with_a_missing_inbox_publishes_nothing_but_the_button_still_refreshes(county_office):
    from nianbao.inbox import InboxMissing
    from nianbao.pipeline import refresh_period

    plan, root = county_office
    settings = settings_of(root)
    shutil.rmtree(root / "inbox")
    with pytest.raises(InboxMissing, match="收件箱不存在"):
        run_once(settings, PERIOD)
    assert list((root / "out").iterdir()) == [] and list((root / "outbox").iterdir()) == []
    # the 刷新汇总 button reads the database; it needs no inbox to show what is stored
    assert refresh_period(settings, PERIOD, by="test").pending == []


def test_reviews_in_a_master_saved_by_libreoffice_are_stored(county_office, office):
    """The master workbook as LibreOffice writes it back (its own xlsx: names, properties)."""
    from nianbao.workbooks.master import saved_by

    plan, root = county_office
    settings = settings_of(root)
    master = run_once(settings, PERIOD).master
    town = plan.county.townships[4]
    type_and_save(master, {town.code: ("退回", "经费数据有误")}, who="王干事")
    shutil.copyfile(office.convert(master, "xlsx"), master)  # saved by LibreOffice
    by, _ = saved_by(master)

    result = run_once(settings, PERIOD)
    assert [(d.township_code, d.reason) for d in result.reviews.outcome.stored] == [(town.code, "经费数据有误")]
    store = open_store(settings.db)
    decisions = store.latest_decisions(PERIOD).set_index("township_code")
    store.close()
    assert decisions.loc[town.code, "decided_by"] == by
    assert result.consolidation.status.set_index("township_code").loc[town.code, "status"] == "退回"
