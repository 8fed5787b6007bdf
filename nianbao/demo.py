"""The demo county: a config and an inbox of returns for two consecutive years.

Realistic enough to exercise every path a county meets in a season: most townships on time,
some typing habits the reader must forgive (full-width digits, "12家", "1,317.31"), returns
with real mistakes, one late, one missing, and one township that resubmits a corrected file.
One township explains an unusual figure in its 情况说明. One more correction waits in
``later/``: ``nianbao demo`` publishes once, then moves it into the inbox and publishes again,
so 变动情况 shows a resubmission replacing a return and the figures it changed.
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
    explained: dict[str, dict[str, str]] = field(default_factory=dict)  # township -> code -> 情况说明
    corrected: list[str] = field(default_factory=list)  # townships whose correction is in later/
    later: list[Path] = field(default_factory=list)  # files that arrive after the first publish


# What the demo's townships write in 情况说明, and what the later correction changes.
DEMO_NOTES = {"D06": "春节前对受灾的困难职工家庭集中发放送温暖资金，户均标准高于往年"}
CORRECTION = {"E09": 200, "B01": 5}  # indicator -> added in the corrected file
CORRECTION_NOTE = {"E09": "补报下半年农民工技能培训专项行动的培训人次"}


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


def _write(values: dict, township: Township, period: str, out: Path, tmp: Path, yoy_threshold: float | None = None) -> Path:
    template = tmp / f"{township.code}_{period}.xlsx"
    write_template(template, township, period, yoy_threshold=yoy_threshold)
    return fill_template(template, values, out)


def _corrected(values: dict) -> dict:
    out = copy.deepcopy(values)
    for code, added in CORRECTION.items():
        out["summary"][code] = int(str(out["summary"][code]).replace(",", "")) + added
    out["notes"] = {**out.get("notes", {}), **CORRECTION_NOTE}
    return out


def move_later(plan: DemoPlan, period: str) -> list[Path]:
    """Put the files of ``later/`` into the inbox (keeping their received times)."""
    moved = []
    for path in plan.later:
        target = plan.inbox / period / path.name
        shutil.move(path, target)
        moved.append(target)
    return moved


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
    plan.explained = {towns[5].code: DEMO_NOTES}
    plan.corrected = [towns[1].code]
    later = target / "later"
    later.mkdir(exist_ok=True)

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
            if p is current and town.code in plan.explained:
                values["notes"] = dict(plan.explained[town.code])
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
            path = _write(values, town, p.period, folder / name, tmp, county.yoy_threshold)
            _place(path, received)
            plan.files.append(path)
            if p is current and town.code in plan.corrected:
                fixed = _write(_corrected(values), town, p.period, later / f"{town.name}{p.period}年报（更正）.xlsx", tmp, county.yoy_threshold)
                _place(fixed, received + timedelta(days=2))
                plan.later.append(fixed)
    shutil.rmtree(tmp, ignore_errors=True)
    return plan
