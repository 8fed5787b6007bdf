"""Reporting upward end to end: two demo counties run as county offices, report to their city,
and the city consolidates their returns through a real Prefect flow run.

The oracle is the townships' own files: every city total must equal the sum of all townships'
figures of both counties, and no ledger name or ID number may reach anything the city gets.
"""

import html
import sqlite3
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from prefect.testing.utilities import prefect_test_harness
from typer.testing import CliRunner

from nianbao.cli import app
from nianbao.demo_city import build_county, build_demo_city
from nianbao.flows.nightly import nightly
from nianbao.report_up import Contact, OpenErrors, report_up
from nianbao.schemas.county import load_county
from nianbao.schemas.indicators import INDICATORS
from nianbao.store import open_store
from nianbao.validate import check_file
from nianbao.workbooks import layout as L
from nianbao.workbooks.sample import sample_return, fill_workbook
from nianbao.workbooks.template import build_template

PERIOD = "2025"
TWO_COUNTIES = (
    ("419901", "清河县", ("城关镇", "东关街道", "柳林镇")),
    ("419902", "柳溪县", ("溪口镇", "南湖街道")),
)


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("city")
    demo = build_demo_city(root, TWO_COUNTIES, roster_rows=5, ledger_rows=4)
    with prefect_test_harness(server_startup_timeout=120):
        result = nightly(
            period=PERIOD,
            config=str(demo.config_path),
            inbox=str(demo.inbox),
            db=f"sqlite:///{root / 'city.db'}",
            out=str(root / "out"),
            outbox=str(root / "outbox"),
        )
    return root, demo, result


def township_returns(demo, period=PERIOD):
    """Every township's own file of every county, validated on its own (the oracle)."""
    out = []
    for settings in demo.counties.values():
        for path in sorted((Path(settings.inbox) / period).iterdir()):
            checked = check_file(path, period=period, county=load_county(settings.config))
            assert checked.report.valid, checked.report.findings
            out.append(checked.ret)
    return out


def test_every_city_total_is_the_sum_of_all_townships_of_both_counties(city):
    root, demo, result = city
    rets = township_returns(demo)
    assert len(rets) == 5
    c = result.consolidation
    assert list(c.status["status"]) == ["已报", "已报"]
    master = load_workbook(result.master, data_only=True)["汇总"]
    shown = {row[0]: row[3] for row in master.iter_rows(values_only=True) if row[0] in {i.code for i in INDICATORS}}
    for ind in INDICATORS:
        expected = sum((Decimal(str(getattr(r.summary, ind.code) or 0)) for r in rets), Decimal(0))
        assert Decimal(str(c.totals[ind.code])).quantize(Decimal("0.01")) == expected, ind.code
        assert Decimal(str(shown[ind.code])).quantize(Decimal("0.01")) == expected, ind.code
    # rates recomputed from the sums, not averaged over counties
    members = sum(r.summary.A10 for r in rets)
    employees = sum(r.summary.A07 for r in rets)
    assert c.rates["R02"] == pytest.approx(members / employees)


def test_the_city_master_speaks_of_counties_and_groups_the_whole_roster(city):
    root, demo, result = city
    rets = township_returns(demo)
    wb = load_workbook(result.master)
    assert "分县" in wb.sheetnames and "分乡镇" not in wb.sheetnames and "分组汇总" in wb.sheetnames
    assert [r[1] for r in wb["分县"].iter_rows(values_only=True) if r[0] in ("419901", "419902")] == ["清河县", "柳溪县"]
    groups = result.consolidation.groups
    units = sum(len(r.roster) for r in rets)
    employees = sum(sum(u.employees for u in r.roster) for r in rets)
    for dimension in ("unit_type", "unit"):
        block = groups[groups["dimension"] == dimension]
        assert block["units"].sum() == units and block["employees"].sum() == employees
    by_county = groups[groups["dimension"] == "unit"].set_index("group")["units"].to_dict()
    assert by_county == {"清河县": 15, "柳溪县": 10}
    unions = sum(sum(1 for u in r.roster if u.has_union) for r in rets)
    assert groups[groups["dimension"] == "unit"]["has_union"].sum() == unions == result.consolidation.totals["A03"]


def test_the_county_return_carries_its_roster_and_aid_instead_of_the_ledger(city):
    root, demo, result = city
    up = next(u for u in demo.returns if u.path.name.startswith("419901") and PERIOD in u.path.name)
    assert all(u.report.findings == [] for u in demo.returns)  # not even a warning at the city
    checked = check_file(up.path, period=PERIOD, county=demo.city)
    ret = checked.ret
    assert ret.cover.township_code == "419901" and ret.cover.township_name == "清河县" and not ret.cover.note
    assert ret.ledger == [] and ret.aid
    assert {u.township for u in ret.roster} == {"城关镇", "东关街道", "柳林镇"} and len(ret.roster) == 15
    county_rets = township_returns(demo)[:3]
    assert sum(a.cases for a in ret.aid) == sum(len(r.ledger) for r in county_rets) == ret.summary.D03
    assert sum(a.amount for a in ret.aid) == sum(sum(x.amount for x in r.ledger) for r in county_rets)


def _texts(path: Path) -> str:
    """Every byte of text in a file: each part of an xlsx unzipped, a database as raw bytes."""
    if path.suffix == ".xlsx":
        # openpyxl writing through lxml (python-docx brings it) stores CJK text as character
        # references (&#24352;): unescape, or the scan would miss a name written that way.
        with zipfile.ZipFile(path) as z:
            return "\n".join(html.unescape(z.read(n).decode("utf-8", "ignore")) for n in z.namelist())
    return path.read_bytes().decode("utf-8", "ignore")


def test_no_ledger_name_or_id_number_reaches_the_city(city):
    root, demo, result = city
    people = set()
    for period in ("2024", "2025"):
        for ret in township_returns(demo, period):
            people |= {r.id_number for r in ret.ledger} | {r.name for r in ret.ledger}
    people.discard(None)
    assert len(people) > 20
    # the scan does see them where they belong: in the townships' own files, inside each county
    township_text = "".join(_texts(p) for s in demo.counties.values() for p in Path(s.inbox).rglob("*.xlsx"))
    assert all(x in township_text for x in people)
    city_files = [p for p in root.rglob("*") if p.is_file() and "counties" not in p.relative_to(root).parts]
    received = [p for p in city_files if p.suffix == ".xlsx" and "inbox" in p.parts]
    produced = [p for p in city_files if p not in received]
    assert len(received) == 4 and any(p.suffix == ".db" for p in produced) and any("回执" in p.name for p in produced)
    for path in city_files:
        text = _texts(path)
        leaked = sorted(x for x in people if x in text)
        assert not leaked, f"{path.name}: {leaked[:3]}"
    with sqlite3.connect(root / "city.db") as db:
        assert db.execute("select count(*) from submissions").fetchone()[0] == 4


# --- refusing, forcing, the command ---------------------------------------------------------------


@pytest.fixture(scope="module")
def county_with_an_error(tmp_path_factory):
    """A small county office whose township 乙 then sends a return with an error for 2025."""
    root = tmp_path_factory.mktemp("county")
    settings = build_county(root, "419905", "白河县", ("甲镇", "乙镇"), roster_rows=3, ledger_rows=2)
    county = load_county(settings.config)
    town = county.townships[1]
    values = sample_return(town, PERIOD, 5, roster_rows=3, ledger_rows=2)
    values["summary"]["A08"] = values["summary"]["A07"] + 1  # 女职工 > 职工
    wb = fill_workbook(build_template(town, PERIOD), values)
    wb.save(Path(settings.inbox) / PERIOD / "乙镇更正.xlsx")
    from nianbao.pipeline import run_once

    run_once(settings, PERIOD, as_of=datetime(2026, 2, 1, 2, 0))
    return settings


def test_open_errors_refuse_the_return_unless_forced(county_with_an_error, tmp_path):
    settings = county_with_an_error
    county = load_county(settings.config)
    store = open_store(settings.db)
    try:
        with pytest.raises(OpenErrors, match="419905101 乙镇"):
            report_up(store, county, PERIOD, tmp_path / "up.xlsx")
        assert not (tmp_path / "up.xlsx").exists()
        up = report_up(store, county, PERIOD, tmp_path / "up.xlsx", force=True, contact=Contact("欧阳晓岚", "0391-5012345", "司马建国"))
    finally:
        store.close()
    assert up.forced and up.open_errors == ["419905101 乙镇"]
    checked = check_file(up.path, period=PERIOD)
    assert checked.ret.cover.note.startswith("强制上报")
    assert [f.code for f in checked.report.findings if f.severity.value == "error"] == []
    assert "cover.forced" in {f.code for f in checked.report.findings}


def test_report_up_command(county_with_an_error, tmp_path):
    settings = county_with_an_error
    base = ["report-up", "--period", PERIOD, "--config", settings.config, "--db", settings.db]
    refused = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "a.xlsx")])
    assert refused.exit_code == 1 and "未生成上报报表" in refused.output and "--force" in refused.output
    forced = CliRunner().invoke(
        app, [*base, "-o", str(tmp_path / "b.xlsx"), "--force", "--filler", "欧阳晓岚", "--phone", "0391-5012345", "--head", "司马建国"]
    )
    assert forced.exit_code == 0, forced.output
    assert "已生成白河县2025年报上报报表" in forced.output and "强制上报" in forced.output
    assert (tmp_path / "b.xlsx").is_file()


def test_a_roster_beyond_the_template_capacity_is_written_and_read_back_whole(county_with_an_error, tmp_path):
    from nianbao.report_up import _fit_roster
    from nianbao.workbooks.reader import read_return

    town = load_county(county_with_an_error.config).townships[0]
    values = sample_return(town, PERIOD, 3, roster_rows=2, ledger_rows=1)
    rows = L.ROSTER.capacity + 40
    values["roster"] = [dict(values["roster"][i % 2], name=f"单位{i}") for i in range(rows)]
    wb = build_template(town, PERIOD)
    _fit_roster(wb, rows)
    fill_workbook(wb, values).save(tmp_path / "big.xlsx")
    raw = read_return(tmp_path / "big.xlsx")
    assert len(raw.roster) == rows and raw.roster[-1]["name"] == f"单位{rows - 1}"


def test_a_county_master_has_both_叠加汇总_and_分组汇总_by_township(city):
    root, demo, result = city
    settings = demo.counties["419901"]
    wb = load_workbook(next(Path(settings.out).glob(f"*{PERIOD}*.xlsx")))
    assert {"汇总", "分乡镇", "分组汇总"} <= set(wb.sheetnames)
    rows = list(wb["分组汇总"].iter_rows(values_only=True))
    labels = [r[0] for r in rows]
    assert "按单位类型" in labels and "按乡镇" in labels
    towns = labels[labels.index("按乡镇") + 1 : labels.index("按乡镇") + 4]
    assert towns == ["城关镇", "东关街道", "柳林镇"]
    totals = [r for r in rows if r[0] == "合计"]
    assert len(totals) == 2 and totals[0][1:] == totals[1][1:] and totals[0][1] == 15


def test_demo_level_other_than_county_or_city_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--level", "区", "--dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "--level 只能是“县”或“市”" in result.output
    assert not (tmp_path / "d").exists()


def test_returns_stored_before_details_were_kept_are_named_not_silently_left_out(county_with_an_error, tmp_path):
    import shutil

    settings = county_with_an_error
    db = tmp_path / "old.db"
    shutil.copy(settings.db.removeprefix("sqlite:///"), db)
    with sqlite3.connect(db) as conn:  # what a database written before this version holds
        conn.execute("delete from roster_details where submission_id in (select submission_id from current_returns where township_code = '419905100')")
        conn.execute("delete from detail_totals where submission_id in (select submission_id from current_returns where township_code = '419905100')")
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.without_details(PERIOD) == ["419905100"]
        with pytest.raises(OpenErrors, match="419905100 甲镇 的现行报表是在本版本之前入库的"):
            report_up(store, load_county(settings.config), PERIOD, tmp_path / "up.xlsx", force=True)
    finally:
        store.close()
