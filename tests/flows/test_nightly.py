"""End to end: the demo county through real Prefect flow runs, a real database (SQLite file,
PostgreSQL server), real files."""

import os
import shutil
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from prefect.testing.utilities import prefect_test_harness

import nianbao.flows.nightly as nightly_module
from nianbao.flows.nightly import nightly
from nianbao.demo import build_demo
from nianbao.lineage import cell_column, sheet_column, trace_indicator
from nianbao.store import open_store
from nianbao.validate import check_file
from nianbao.schemas.indicators import INDICATORS, RATES
from nianbao.workbooks.sample import write_sample_return

PERIOD = "2025"


@pytest.fixture(scope="module", autouse=True)
def prefect():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory):
    """The demo county built once; each test works on its own copy."""
    return build_demo(tmp_path_factory.mktemp("demo-src"), roster_rows=6, ledger_rows=3)


DB: dict[Path, str] = {}  # each test county's database URL (the demo fixture's backend)


@pytest.fixture
def demo(demo_source, tmp_path, db_url):
    root = tmp_path / "county"
    shutil.copytree(demo_source.config_path.parent, root, copy_function=shutil.copy2)
    DB[root] = db_url
    yield demo_source, root
    DB.pop(root, None)


def run(root: Path, **kw):
    return nightly(
        period=PERIOD,
        config=str(root / "county.toml"),
        inbox=str(root / "inbox"),
        db=DB[root],
        out=str(root / "out"),
        outbox=str(root / "outbox"),
        batch_size=7,
        **kw,
    )


def expected_totals(plan, root: Path) -> dict[str, Decimal]:
    """The oracle: validate each file on its own and add up the latest valid one per township."""
    latest: dict[str, tuple[float, object]] = {}
    for path in sorted((root / "inbox" / PERIOD).iterdir()):
        checked = check_file(path)
        if not checked.report.valid:
            continue
        code, mtime = checked.report.township, path.stat().st_mtime
        if code not in latest or latest[code][0] < mtime:
            latest[code] = (mtime, checked.ret)
    totals = {i.code: Decimal(0) for i in INDICATORS}
    for _, ret in latest.values():
        for code in totals:
            totals[code] += Decimal(getattr(ret.summary, code))
    return totals


def status_of(result) -> dict[str, str]:
    st = result.consolidation.status
    return dict(zip(st["township_code"], st["status"]))


def test_demo_inbox_gives_totals_rates_statuses_and_receipts(demo):
    plan, root = demo
    result = run(root)
    c = result.consolidation

    totals = expected_totals(plan, root)
    for code, value in totals.items():
        assert Decimal(str(c.totals[code])) == value, code
    members, employees = totals["A10"], totals["A07"]
    assert c.rates["R02"] == pytest.approx(float(members / employees))
    # rates come from sums, never from the mean of township rates
    assert c.rates["R02"] != pytest.approx(c.by_township["R02"].mean(), rel=1e-9)

    status = status_of(result)
    assert status[plan.missing[0]] == "未报"
    assert status[plan.late[0]] == "逾期"
    assert status[plan.resubmitted[0]] == "已报"
    rejected = [t for t in plan.with_errors if t not in plan.resubmitted]
    assert [status[t] for t in rejected] == ["退回"]
    assert sum(1 for s in status.values() if s == "已报") == len(plan.county.townships) - 3

    assert result.master.exists()
    wb = load_workbook(result.master)
    assert {"汇总", "分乡镇", "分组汇总", "报送情况", "审核问题", "同比"} <= set(wb.sheetnames)

    receipts = {p.name: p for p in (root / "outbox").iterdir()}
    bad_town = plan.county.township(rejected[0])
    receipt = receipts[f"{bad_town.code}_{bad_town.name}_{PERIOD}_回执.xlsx"]
    rwb = load_workbook(receipt)
    assert rwb.sheetnames[0] == "回执"
    values = [c.value for row in rwb["回执"].iter_rows() for c in row]
    assert "退回" in values
    red = [
        (ws.title, cell.coordinate)
        for ws in rwb.worksheets[1:]
        for row in ws.iter_rows()
        for cell in row
        if cell.comment is not None and cell.fill.fgColor.rgb.endswith("FFC7CE")
    ]
    report = check_file(next(p for p in plan.files if p.name == f"{bad_town.name}{PERIOD}年报.xlsx")).report
    assert sorted(red) == sorted({(f.sheet, f.cell) for f in report.errors if f.cell})


def test_running_twice_changes_nothing(demo):
    plan, root = demo
    first = run(root)
    receipts = {p: p.stat().st_mtime_ns for p in (root / "outbox").iterdir()}
    store = open_store(DB[root])
    before = store.submissions(PERIOD)

    second = run(root)
    assert second.new == 0 and second.seen == first.seen
    after = store.submissions(PERIOD)
    assert len(after) == len(before)
    assert after["submission_id"].tolist() == before["submission_id"].tolist()
    assert second.consolidation.totals.equals(first.consolidation.totals)
    assert status_of(second) == status_of(first)
    assert {p: p.stat().st_mtime_ns for p in (root / "outbox").iterdir()} == receipts
    store.close()


def test_worker_processes_publish_what_one_process_publishes(demo, monkeypatch, tmp_path):
    """Returns read and receipts written on two worker processes (every batch big enough for
    them) give the same master workbook and receipts as everything in this process."""
    from nianbao import parallel
    from nianbao.workbooks.master_layout import STAMP_PREFIX

    plan, root = demo
    alone = run(root, processes=1)
    other = tmp_path / "other"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns("out", "outbox", "db", "*.db", "*.sqlite"), copy_function=shutil.copy2)
    DB[other] = f"sqlite:///{tmp_path / 'other.sqlite'}"
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 2)
    pools, close = [], parallel.Workers.close
    monkeypatch.setattr(parallel.Workers, "close", lambda self: (pools.append(self.started), close(self)))
    both = run(other, processes=2)
    DB.pop(other)

    def values(path):
        wb = load_workbook(path)
        return {
            ws.title: [tuple("<stamp>" if isinstance(v, str) and v.startswith(STAMP_PREFIX) else v for v in row) for row in ws.iter_rows(values_only=True)]
            for ws in wb.worksheets
        }

    assert both.seen == alone.seen and both.new == alone.new and both.accepted == alone.accepted
    assert pools == [1, 2]  # one pool for reading, closed through the consolidation, one more for the receipts
    assert values(both.master) == values(alone.master)
    assert sorted(p.name for p in both.receipts) == sorted(p.name for p in alone.receipts)
    for receipt in alone.receipts:
        assert values(other / "outbox" / receipt.name) == values(receipt), receipt.name


def test_resubmission_replaces_exactly_one_township(demo):
    plan, root = demo
    first = run(root).consolidation.by_township.set_index("township_code")
    town = plan.county.townships[1]
    fixed = write_sample_return(root / "inbox" / PERIOD / f"{town.name}更正.xlsx", town, PERIOD, seed=999, roster_rows=6, ledger_rows=3)
    now = time.time()
    os.utime(fixed, (now, now))

    second = run(root)
    after = second.consolidation.by_township.set_index("township_code")
    assert second.new == 1
    changed = [code for code in first.index if not first.loc[code].equals(after.loc[code])]
    assert changed == [town.code]
    codes = [i.code for i in INDICATORS]
    assert (after[codes].sum() - first[codes].sum()).abs().sum() > 0


def test_corrupt_file_is_reported_and_the_rest_consolidated(demo):
    plan, root = demo
    clean = run(root).consolidation
    (root / "inbox" / PERIOD / "坏文件.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (root / "inbox" / PERIOD / "~$城关镇2025年报.xlsx").write_bytes(b"owner file")

    result = run(root)
    c = result.consolidation
    assert result.new == 1 and result.rejected == 1
    assert c.totals.equals(clean.totals)
    bad = c.findings[c.findings["file_name"] == "坏文件.xlsx"]
    assert len(bad) == 1 and bad.iloc[0]["code"].startswith("file.")
    assert "坏文件.xlsx" not in "".join(c.findings["file_name"][c.findings["file_name"] != "坏文件.xlsx"])
    assert any(p.name.startswith("未识别_坏文件") for p in (root / "outbox").iterdir())
    # still listed on the next run while the file sits in the inbox
    again = run(root).consolidation
    assert (again.findings["file_name"] == "坏文件.xlsx").sum() == 1


def test_master_workbook_is_never_left_half_written(demo, monkeypatch):
    plan, root = demo
    result = run(root)
    master = result.master
    before = master.read_bytes()

    town = plan.county.townships[2]
    newer = write_sample_return(root / "inbox" / PERIOD / f"{town.name}再报.xlsx", town, PERIOD, seed=4242, roster_rows=6, ledger_rows=3)
    now = time.time()
    os.utime(newer, (now, now))

    import nianbao.workbooks.master as master_module

    def broken_save(self, filename):
        Path(filename).write_bytes(b"half a workbook")
        raise OSError("disk full")

    monkeypatch.setattr(master_module.Workbook, "save", broken_save)
    monkeypatch.setattr(nightly_module, "publish", nightly_module.publish.with_options(retries=0))
    with pytest.raises(OSError):
        run(root)
    assert master.read_bytes() == before
    assert sorted(p.name for p in master.parent.iterdir()) == [master.name]


def test_cli_run_prints_where_the_results_are(demo):
    from typer.testing import CliRunner

    from nianbao.cli import app

    plan, root = demo
    args = ["run", "--period", PERIOD, "--config", str(root / "county.toml"), "--inbox", str(root / "inbox")]
    args += ["--db", DB[root], "--out", str(root / "cli-out"), "--outbox", str(root / "cli-outbox")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "汇总工作簿" in result.output and "cli-out" in result.output
    assert "未报 1" in result.output and "逾期 1" in result.output
    assert list((root / "cli-out").glob("*工会年报汇总.xlsx"))

    bad = CliRunner().invoke(app, ["run", "--config", str(root / "nope.toml"), "--inbox", str(root / "inbox")])
    assert bad.exit_code == 2 and "找不到县配置文件" in bad.output


def test_cli_demo_builds_once_and_reruns_without_duplicates(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nianbao.cli import app
    from nianbao.store import open_store

    first = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "demo")], terminal_width=200)
    assert first.exit_code == 0, first.output
    assert "新文件 36 个" in first.output and "汇总工作簿" in first.output
    assert "变动：本报告期首次汇总发布" in first.output
    # then the correction waiting in later/ arrives and the second publish says what it changed
    assert "新文件 1 个" in first.output and "更正替换 1 个" in first.output and "全县合计变动 2 项" in first.output
    assert len(list((tmp_path / "demo" / "outbox").iterdir())) == 35  # the correction's receipt replaces the first
    assert (tmp_path / "demo" / "nianbao.toml").is_file() and (tmp_path / "demo" / "使用说明.txt").is_file()

    # cd demo && nianbao run: the demo folder's own settings, data and figures
    monkeypatch.chdir(tmp_path / "demo")
    monkeypatch.delenv("NIANBAO_SETTINGS", raising=False)
    in_folder = CliRunner().invoke(app, ["run"], terminal_width=200)
    assert in_folder.exit_code == 0, in_folder.output
    status = [line for line in first.output.splitlines() if line.startswith("应报")][-1]
    assert status in in_folder.output and "未报 1" in status
    assert "回执 35 份（本次新增 0 份）" in in_folder.output
    assert str((tmp_path / "demo" / "out").resolve()) in in_folder.output

    again = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "demo")])
    assert again.exit_code == 0, again.output
    assert "演示县已存在" in again.output and "新文件 0 个" in again.output
    assert "没有变化" in again.output
    store = open_store(f"sqlite:///{tmp_path / 'demo' / 'nianbao.db'}")
    assert len(store.submissions(PERIOD)) == 19  # 17 townships reported, two of them twice
    store.close()


# --- lineage, changes, outliers explained, the statistics paragraph ------------------------------


def cli(*args: str):
    from typer.testing import CliRunner

    from nianbao.cli import app

    return CliRunner().invoke(app, list(args))


def test_second_publish_shows_the_correction_and_everything_traces(demo, tmp_path):
    import docx
    from narrative_parse import check_against

    from nianbao.narrative import paragraphs

    plan, root = demo
    first = run(root).consolidation
    assert first.changes.first and first.changes.line() == "本报告期首次汇总发布，没有上次发布可比较"
    (later,) = (root / "later").iterdir()
    shutil.move(later, root / "inbox" / PERIOD / later.name)
    second = run(root)
    c = second.consolidation
    # the Prefect summary artifact says in one line what the console says
    from nianbao.summary import changes_line, summary_markdown

    assert f"- 变动：{changes_line(c)}" in summary_markdown(c, second).splitlines()

    # 变动情况: the correction replaced 东关街道's return; its two changed figures, old -> new
    (town,) = plan.corrected
    ch = c.changes
    assert [(r.township_code, r.kind) for r in ch.returns] == [(town, "更正替换")]
    moved = {(f.township_code, f.code): (f.old, f.new) for f in ch.figures}
    for code, added in {"E09": 200, "B01": 5}.items():
        old, new = moved[(town, code)]
        assert new - old == added and moved[("", code)] == (first.totals[code], c.totals[code])
    assert len(moved) == 4 and not ch.late
    wb = load_workbook(root / "out" / "清河县2025工会年报汇总.xlsx")
    assert {"统计综述", "变动情况", "数据来源"} <= set(wb.sheetnames)
    rows = [r for r in wb["变动情况"].iter_rows(values_only=True)]
    assert rows[3][1] == ch.line() and "更正替换 1 个" in ch.line()
    assert any(r[0] == "更正替换" and r[1] == town and "（更正）" in r[7] for r in rows)

    # 数据来源 and nianbao trace: the county total is the sum of the townships' cells
    sheet = list(wb["数据来源"].iter_rows(values_only=True))
    header = next(r for r in sheet if r[0] == "乡镇代码")
    body = [r for r in sheet[sheet.index(header) + 1 :] if r[0]]
    a07 = next(j for j, h in enumerate(header) if h and h.startswith("A07 "))
    assert [r[1] for r in body] == [str(n) for n in c.by_township["township_name"]]  # a row per township, as 分乡镇
    assert {r[a07] for r in body} == {"「主要指标」D10"}
    assert "（更正）" in next(r[header.index("来源文件")] for r in body if r[0] == town)
    src = c.sources
    assert len(src) == 16 and list(src["township_code"]) == list(c.by_township["township_code"])
    assert set(src[sheet_column("A07")]) == {"主要指标"} and set(src[cell_column("A07")]) == {"D10"}
    assert src["sha256"].str.len().eq(12).all()
    assert sum(p.value for p in trace_indicator(c, "A07").parts) == c.totals["A07"]
    out = cli("trace", "A07", "--period", PERIOD, "--config", str(root / "county.toml"), "--db", DB[root])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert f"全县合计 {int(c.totals['A07']):,} 人，为 16 个乡镇之和" in lines[0]
    assert sum("「主要指标」D10" in line for line in lines) == 16 and "与各乡镇之和一致" in lines[-1]
    assert any("（更正）.xlsx" in line and town in line for line in lines)
    rate = cli("trace", "入会率", "--config", str(root / "county.toml"), "--db", DB[root])
    assert rate.exit_code == 0 and "【会员人数】合计 ÷ 【职工人数】合计" in rate.output
    assert "分子：" in rate.output and "分母：" in rate.output and f"{c.rates['R02']:.1%}" in rate.output

    # an outlier the township explained in 情况说明 shows as 已说明, on the sheet and in the receipt
    (explained,) = plan.explained
    f = c.findings
    outliers = f[f["code"] == "county.outlier"]
    about = outliers["message"].str.contains("【送温暖资金】")
    mine = outliers[(outliers["township_code"] == explained) & about]
    assert len(mine) == 1 and "送温暖" in mine["note"].iloc[0] and "稳健 z 值" in mine["message"].iloc[0]
    assert (outliers[~about | (outliers["township_code"] != explained)]["note"] == "").all()
    findings = list(wb["审核问题"].iter_rows(values_only=True))
    assert any(r[0] == explained and r[4] == "county.outlier" and r[9] == "已说明" and "送温暖" in r[10] for r in findings)
    receipt = next((root / "outbox").glob(f"{explained}_*"))
    text = "\n".join(str(v) for row in load_workbook(receipt)["回执"].iter_rows(values_only=True) for v in row if v)
    assert "【已说明】" in text and "其中已说明" in text

    # the statistics paragraph: every number read back equals the consolidation's
    out = cli("summary-text", "--config", str(root / "county.toml"), "--db", DB[root], "-o", str(tmp_path / "综述.docx"))
    assert out.exit_code == 0, out.output
    text, saved = out.output.split("已保存 Word 文件：")
    assert saved.strip() == str(tmp_path / "综述.docx")
    assert check_against(text, c) > 100
    document = docx.Document(str(tmp_path / "综述.docx"))
    texts = [p.text for p in document.paragraphs]
    assert [s.heading for s in paragraphs(c)][1:] == ["一、组织建设", "二、集体协商", "三、维权服务", "四、帮扶救助", "五、安全与竞赛", "六、工会经费"]
    for section in paragraphs(c):
        assert section.heading in texts and section.text in texts
    # the stamp is the time of the command (the CLI consolidates anew), not of the run
    stamps = [t for t in texts if t.startswith("数据截至 ")]
    assert len(stamps) == 1
    check_against("\n".join(t for t in texts if t not in stamps), c)
    sheet = [r[0] for r in wb["统计综述"].iter_rows(values_only=True) if r[0] and not r[0].startswith("数据截至 ")]
    check_against("\n".join(sheet), c)

    # nothing new: one line saying so
    third = run(root).consolidation
    assert third.changes.empty and third.changes.line().endswith("没有变化")
