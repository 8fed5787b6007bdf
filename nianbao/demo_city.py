"""The demo city: fictional counties, each run as a county office, reporting up to their city.

``build_demo_city(target)`` makes, under ``target``:

* ``counties/<code>/`` — one county office per county: ``county.toml``, an inbox of valid
  township returns for two years, its ``nianbao.db``, master workbook and receipts (each county
  is run once, as ``nianbao run`` would);
* ``city.toml`` — the city's config (``[unit]`` with ``level = "市"``, its counties as units);
* ``inbox/<period>/`` — each county's return for the city (``nianbao report-up``), the city's
  inbox. ``nianbao run --config city.toml`` then consolidates them like township returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from nianbao.pipeline import run_once
from nianbao.report_up import Contact, UpwardReturn, report_up, upward_filename
from nianbao.schemas.county import CountyConfig, load_county
from nianbao.settings import Settings
from nianbao.store import open_store
from nianbao.workbooks.sample import write_sample_return

CITY_CODE, CITY_NAME = "419900", "清源市"
# (code, name, townships): fictional counties of the fictional city.
COUNTIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("419901", "清河县", ("城关镇", "东关街道", "柳林镇", "杨庄镇", "李店乡")),
    ("419902", "柳溪县", ("溪口镇", "南湖街道", "桑园乡", "石门镇")),
    ("419903", "云台县", ("云台镇", "北岭乡", "松坡镇")),
)
PERIODS: tuple[tuple[str, date, date], ...] = (  # period, county due date, city due date
    ("2024", date(2025, 1, 15), date(2025, 1, 31)),
    ("2025", date(2026, 1, 15), date(2026, 1, 31)),
)
CONTACTS = {  # the counties' own staff (not drawn from the sample generator's names)
    "419901": Contact("欧阳晓岚", "0391-5012345", "司马建国"),
    "419902": Contact("诸葛文静", "0392-6023456", "上官志远"),
    "419903": Contact("东方明月", "0393-7034567", "皇甫振华"),
}


@dataclass
class DemoCity:
    city: CountyConfig
    config_path: Path
    inbox: Path
    counties: dict[str, Settings] = field(default_factory=dict)  # county code -> its office's settings
    returns: list[UpwardReturn] = field(default_factory=list)


def _periods_toml(city: bool) -> str:
    return "".join(f'\n[[periods]]\nperiod = "{p}"\ndue = {(cd if city else td).isoformat()}\n' for p, td, cd in PERIODS)


def _county_toml(code: str, name: str, towns: tuple[str, ...]) -> str:
    units = "".join(f'\n[[units]]\ncode = "{code}{100 + i}"\nname = "{t}"\n' for i, t in enumerate(towns))
    return f'# 演示县（虚构）\n[unit]\ncode = "{code}"\nname = "{name}"\nlevel = "县"\n{units}{_periods_toml(False)}'


def _city_toml(counties: tuple[tuple[str, str, tuple[str, ...]], ...]) -> str:
    units = "".join(f'\n[[units]]\ncode = "{code}"\nname = "{name}"\n' for code, name, _ in counties)
    return f'# 演示市（虚构）：各县的上报报表汇总到市\n[unit]\ncode = "{CITY_CODE}"\nname = "{CITY_NAME}"\nlevel = "市"\n{units}{_periods_toml(True)}'


def _at(day: date, days: int) -> float:
    return datetime.combine(day + timedelta(days=days), time(9, 0)).timestamp()


def build_county(root: Path, code: str, name: str, towns: tuple[str, ...], *, roster_rows: int, ledger_rows: int) -> Settings:
    """A county office with every township's return for every period, on time, run once."""
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / "county.toml"
    config_path.write_text(_county_toml(code, name, towns), encoding="utf-8")
    county = load_county(config_path)
    for period, due, _ in PERIODS:
        for n, town in enumerate(county.townships):
            path = root / "inbox" / period / f"{town.name}{period}年报.xlsx"
            seed = int(town.code) * 10 + due.year
            write_sample_return(path, town, period, seed, roster_rows=roster_rows, ledger_rows=ledger_rows)
            stamp = _at(due, -5 - n % 4)
            os.utime(path, (stamp, stamp))
    settings = Settings(
        config=str(config_path),
        inbox=str(root / "inbox"),
        db=f"sqlite:///{(root / 'nianbao.db').resolve()}",
        out=str(root / "out"),
        outbox=str(root / "outbox"),
    )
    for period, due, _ in PERIODS:
        run_once(settings, period, as_of=datetime.combine(due + timedelta(days=1), time(2, 0)))
    return settings


def report_county(settings: Settings, city_inbox: Path) -> list[UpwardReturn]:
    """The county's return to the city for every period, placed in the city's inbox before its due date."""
    county = load_county(settings.config)
    store = open_store(settings.db)
    out = []
    try:
        for period, due, city_due in PERIODS:
            path = city_inbox / period / upward_filename(county, period)
            as_of = datetime.combine(due + timedelta(days=3), time(10, 0))
            up = report_up(store, county, period, path, contact=CONTACTS.get(county.county_code), as_of=as_of)
            stamp = _at(city_due, -7)
            os.utime(up.path, (stamp, stamp))
            out.append(up)
    finally:
        store.close()
    return out


def build_demo_city(
    target: Path | str,
    counties: tuple[tuple[str, str, tuple[str, ...]], ...] = COUNTIES,
    *,
    roster_rows: int = 12,
    ledger_rows: int = 6,
) -> DemoCity:
    target = Path(target)
    config_path = target / "city.toml"
    target.mkdir(parents=True, exist_ok=True)
    config_path.write_text(_city_toml(counties), encoding="utf-8")
    demo = DemoCity(load_county(config_path), config_path, target / "inbox")
    for code, name, towns in counties:
        settings = build_county(target / "counties" / code, code, name, towns, roster_rows=roster_rows, ledger_rows=ledger_rows)
        demo.counties[code] = settings
        demo.returns += report_county(settings, demo.inbox)
    return demo
