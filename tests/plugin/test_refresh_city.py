"""The 刷新汇总 button one level up: a city's master workbook, refreshed from the city's store,
shows what the city's nightly run published (分县, 分组汇总), through xlwings' JSON book."""

import pytest

from nianbao.demo_city import build_demo_city
from nianbao.pipeline import run_once
from nianbao.plugin import refresh
from nianbao.settings import SETTINGS_ENV, SETTINGS_PATH_ENV, Settings
from nianbao.workbooks.master_layout import master_sheets
from test_refresh import NIGHT, PERIOD


@pytest.fixture(autouse=True)
def no_settings_from_outside(monkeypatch, tmp_path):
    for var in (SETTINGS_PATH_ENV, *SETTINGS_ENV.values()):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_refresh_of_a_city_book_writes_what_the_city_run_published(tmp_path, json_book, xl):
    counties = (("419901", "清河县", ("城关镇", "东关街道")), ("419902", "柳溪县", ("溪口镇",)))
    demo = build_demo_city(tmp_path / "city", counties, roster_rows=3, ledger_rows=2)
    root = tmp_path / "city"
    settings = Settings(
        config=str(demo.config_path),
        inbox=str(demo.inbox),
        db=f"sqlite:///{root / 'city.db'}",
        out=str(root / "out"),
        outbox=str(root / "outbox"),
    )
    nightly = run_once(settings, PERIOD, NIGHT)
    payload = xl.empty_payload()
    book = json_book(payload)

    result = refresh(book, settings, now=NIGHT)

    titles = [s.title for s in master_sheets(result.consolidation)]
    assert titles[:3] == ["汇总", "分县", "分组汇总"]
    replayed = xl.replay(payload, book.json()["actions"])
    nightly_grids = xl.xlsx_grids(nightly.master)
    for sheet in titles:
        if sheet == "变动情况":  # the refresh compares with the run's publish, the run with the one before
            assert replayed.grid(sheet)[5] == xl.wired(nightly_grids[sheet])[5]  # same header row
            continue
        xl.assert_same_cells(sheet, replayed.grid(sheet), xl.wired(nightly_grids[sheet]))
    assert [r[0] for r in replayed.grid("分县")].count("419902") == 1
