"""Administrative levels of the reporting system: a county collects townships, a city counties.

The same consolidation runs at every level; what changes is the words shown to people (乡镇
becomes 县 one level up: 分乡镇 becomes 分县, 全县 becomes 全市) and the shape of the codes
(行政区划代码): a county is 6 digits and its townships 9 (or 12) digits starting with the
county's 6; a city is 6 digits and its counties are 6 digits sharing the city's first 4; a
province's cities share its first 2.

A reporting config may use the county format of today (``county_code``, ``county_name``,
``[[townships]]``) or name its level explicitly::

    [unit]
    code = "419900"
    name = "清源市"
    level = "市"

    [[units]]
    code = "419901"
    name = "清河县"

:func:`normalize_config` turns the second form into the first, so the rest of the code base
keeps reading ``county_code`` / ``townships`` whatever the level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nianbao.schemas.models import TOWNSHIP_CODE_PATTERN


class Level(StrEnum):
    COUNTY = "县"
    CITY = "市"
    PROVINCE = "省"


@dataclass(frozen=True)
class LevelInfo:
    level: Level
    prefix: int  # digits a reporting unit's code shares with this unit's code
    child_pattern: str  # a reporting unit's code
    child: str  # what a reporting unit is called: 乡镇 / 县 / 市

    @property
    def whole(self) -> str:
        """全县 / 全市 / 全省: the unit's own total in prose."""
        return f"全{self.level.value}"

    @property
    def by_child(self) -> str:
        """分乡镇 / 分县 / 分市: the sheet of figures by reporting unit."""
        return f"分{self.child}"

    def child_code_ok(self, code: str) -> bool:
        return re.fullmatch(self.child_pattern, code) is not None


LEVELS: dict[Level, LevelInfo] = {
    Level.COUNTY: LevelInfo(Level.COUNTY, 6, TOWNSHIP_CODE_PATTERN, "乡镇"),
    Level.CITY: LevelInfo(Level.CITY, 4, r"^\d{6}$", "县"),
    Level.PROVINCE: LevelInfo(Level.PROVINCE, 2, r"^\d{6}$", "市"),
}

# The level above each level: the one a unit reports up to.
UPPER: dict[Level, Level | None] = {Level.COUNTY: Level.CITY, Level.CITY: Level.PROVINCE, Level.PROVINCE: None}


def level_info(level: str | Level) -> LevelInfo:
    return LEVELS[Level(level)]


def membership_problems(level: str | Level, code: str, children: list[str]) -> list[str]:
    """Chinese sentences, one per reporting unit whose code does not belong under ``code``."""
    info = level_info(level)
    prefix = code[: info.prefix]
    problems = []
    bad_shape = [c for c in children if not info.child_code_ok(c)]
    if bad_shape:
        digits = "9 位（或 12 位）" if info.level is Level.COUNTY else "6 位"
        problems.append(f"{info.child}代码 {'、'.join(bad_shape)} 格式不对，{info.level.value}级配置的{info.child}代码应为 {digits}数字")
    foreign = [c for c in children if c not in bad_shape and not c.startswith(prefix)]
    if foreign:
        problems.append(f"{info.child}代码 {'、'.join(foreign)} 不以{info.level.value}代码 {code} 的前 {info.prefix} 位 {prefix} 开头")
    if info.level is not Level.COUNTY:
        own = [c for c in children if c == code]
        if own:
            problems.append(f"{info.child}代码 {own[0]} 与本{info.level.value}代码相同")
    return problems


def normalize_config(data: Any) -> Any:
    """The ``[unit]`` / ``[[units]]`` form rewritten to the county form; anything else unchanged."""
    if not isinstance(data, dict) or ("unit" not in data and "units" not in data):
        return data
    out = {k: v for k, v in data.items() if k not in ("unit", "units")}
    unit = data.get("unit")
    if isinstance(unit, dict):
        for key, target in (("code", "county_code"), ("name", "county_name"), ("level", "level")):
            if key in unit:
                out[target] = unit[key]
        extra = sorted(set(unit) - {"code", "name", "level"})
        if extra:
            out["unit." + extra[0]] = unit[extra[0]]  # reported by extra="forbid" under its own name
    elif unit is not None:
        out["unit"] = unit
    if "units" in data:
        out["townships"] = data["units"]
    return out
