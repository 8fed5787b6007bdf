"""The demo county: a config and an inbox of returns for two consecutive years.

Realistic enough to exercise every path a county meets in a season: most townships on time,
some typing habits the reader must forgive (full-width digits, "12家", "1,317.31"), returns
with real mistakes, one late, one missing, and one township that resubmits a corrected file.
"""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from nianbao.schemas.county import DEMO_CONFIG, CountyConfig, Township, load_county
from nianbao.workbooks.sample import fill_template, sample_return
from nianbao.workbooks.template import write_template


@dataclass
class DemoPlan:
    """What the demo inbox contains, so tests can assert on it."""

    county: CountyConfig
    config_path: Path
    inbox: Path
    missing: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    with_errors: list[str] = field(default_factory=list)
    resubmitted: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _typing_habits(values: dict) -> dict:
    """Valid values typed the way township staff type them."""
    summary = values["summary"]
    summary["A01"] = f"{summary['A01']}家"
    summary["A07"] = str(summary["A07"]).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    summary["F03"] = f"{summary['F03']:,}" if not isinstance(summary["F03"], str) else summary["F03"]
    return values


def _with_mistakes(values: dict) -> dict:
    """A part larger than its whole, a check character typo, a blank required cell, '12.5' people."""
    summary = values["summary"]
    summary["A08"] = int(str(summary["A07"]).replace(",", "")) + 7
    summary["E03"] = None
    roster = values["roster"]
    if roster:
        uscc = str(roster[0]["uscc"])
        roster[0]["uscc"] = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")
    return values


def _place(path: Path, received: datetime) -> None:
    stamp = received.timestamp()
    os.utime(path, (stamp, stamp))


def _write(values: dict, township: Township, period: str, out: Path, tmp: Path) -> Path:
    template = tmp / f"{township.code}_{period}.xlsx"
    write_template(template, township, period)
    return fill_template(template, values, out)


def build_demo(target: Path, *, roster_rows: int = 25, ledger_rows: int = 10) -> DemoPlan:
    """Create ``target/county.toml`` and ``target/inbox/`` with returns for 2024 and 2025."""
    target = Path(target)
    inbox = target / "inbox"
    tmp = target / ".templates"
    for folder in (inbox, tmp):
        folder.mkdir(parents=True, exist_ok=True)
    config_path = target / "county.toml"
    shutil.copyfile(DEMO_CONFIG, config_path)
    county = load_county(config_path)
    periods = sorted(county.periods, key=lambda p: p.due)
    previous, current = periods[-2], periods[-1]
    towns = county.townships
    plan = DemoPlan(county=county, config_path=config_path, inbox=inbox)
    plan.missing = [towns[-1].code]
    plan.late = [towns[-2].code]
    plan.with_errors = [towns[3].code, towns[7].code]
    plan.resubmitted = [towns[3].code]

    for p in (previous, current):
        folder = inbox / p.period
        folder.mkdir(exist_ok=True)
        for n, town in enumerate(towns):
            if p is current and town.code in plan.missing:
                continue
            seed = int(town.code) * 10 + p.due.year
            values = sample_return(town, p.period, seed, roster_rows=roster_rows, ledger_rows=ledger_rows)
            received = datetime.combine(p.due, datetime.min.time()) - timedelta(days=10 - n % 7, hours=n)
            if p is current and town.code in plan.late:
                received = datetime.combine(p.due, datetime.min.time()) + timedelta(days=4)
            if p is current and n % 3 == 0:
                values = _typing_habits(values)
            name = f"{town.name}{p.period}年报.xlsx"
            if p is current and town.code in plan.with_errors:
                first = _write(_with_mistakes(copy.deepcopy(values)), town, p.period, folder / name, tmp)
                _place(first, received)
                plan.files.append(first)
                if town.code in plan.resubmitted:
                    fixed = _write(values, town, p.period, folder / f"{town.name}{p.period}年报（修改后）.xlsx", tmp)
                    _place(fixed, received + timedelta(days=3))
                    plan.files.append(fixed)
                continue
            path = _write(values, town, p.period, folder / name, tmp)
            _place(path, received)
            plan.files.append(path)
    shutil.rmtree(tmp, ignore_errors=True)
    return plan
