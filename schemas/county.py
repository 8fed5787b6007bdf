"""County configuration: which townships report, for which periods, by when.

Kept in a TOML file (``county.toml``) that county staff can edit; validated by pydantic so a
typo in the config is a clear Chinese message, not a crash in the nightly run.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nianbao.schemas.levels import Level, LevelInfo, level_info, membership_problems, normalize_config
from nianbao.schemas.models import Period, UNIT_CODE_PATTERN

DEMO_CONFIG = Path(__file__).with_name("demo_county.toml")


class Township(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    # The shape a reporting unit's code must have depends on the level (CountyConfig checks it).
    code: str = Field(pattern=UNIT_CODE_PATTERN)
    name: str = Field(min_length=2)


class Contact(BaseModel):
    """Who townships call about a receipt (县总工会联系人); printed on every receipt."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    unit: str = Field(default="县总工会", min_length=2, max_length=40)
    name: str = Field(min_length=1, max_length=20)
    phone: str

    @field_validator("unit", "name", "phone", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9][0-9\- ]{5,18}[0-9](\s*[转#]\s*[0-9]{1,6})?", value):
            raise ValueError(f"联系电话「{value}」应为 7–20 位数字，可用“-”分隔区号，如 0371-12345678 或 13800000000")
        return value

    @property
    def line(self) -> str:
        """``清河县总工会 联系人：王红 电话：0371-12345678``."""
        return f"{self.unit} 联系人：{self.name} 电话：{self.phone}"


class PeriodConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    period: str
    due: date

    @field_validator("period", mode="before")
    @classmethod
    def _period(cls, value: object) -> str:
        return str(Period(str(value)))


class Limits(BaseModel):
    """Sane upper bounds per unit: a value above is a finding (``value.too_large``), not data.

    County staff may raise them in ``[limits]`` of the county config; they stay below the
    arithmetic cap ``nianbao.schemas.coerce.HARD_MAX``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    count: int = Field(default=10**8, gt=0, lt=10**12, description="人数、个数等计数的上限")
    money: Decimal = Field(default=Decimal(10**7), gt=0, lt=10**12, description="以万元计的金额上限")
    yuan: Decimal = Field(default=Decimal(10**7), gt=0, lt=10**12, description="以元计的金额（帮扶台账）上限")


class CountyConfig(BaseModel):
    """A reporting config: this unit (a county by default, or a city/province) and its reporting
    units. The field names are the county's; ``level`` says which level the config is for
    (see :mod:`nianbao.schemas.levels`), and ``townships`` are then counties or cities."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    county_code: str = Field(pattern=r"^\d{6}$")
    county_name: str
    level: Level = Level.COUNTY
    townships: list[Township] = Field(min_length=1)
    periods: list[PeriodConfig] = Field(min_length=1)
    yoy_threshold: float = Field(default=0.3, gt=0, description="同比变动超过该比例给出提示")
    outlier_threshold: float = Field(default=3.5, gt=0, description="乡镇比率偏离全县中位数的稳健 z 值超过该值给出提示")
    contact: Contact | None = None  # printed on the receipts; optional
    limits: Limits = Limits()

    @model_validator(mode="before")
    @classmethod
    def _unit_form(cls, data: object) -> object:
        return normalize_config(data)

    @model_validator(mode="after")
    def _consistent(self) -> "CountyConfig":
        codes = [t.code for t in self.townships]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"{self.info.child}代码重复：{'、'.join(dupes)}")
        problems = membership_problems(self.level, self.county_code, codes)
        if problems:
            raise ValueError("；".join(problems))
        return self

    @property
    def info(self) -> LevelInfo:
        """The level's words and code shapes (乡镇/县, 分乡镇/分县, 全县/全市)."""
        return level_info(self.level)

    def township(self, code: str) -> Township | None:
        return next((t for t in self.townships if t.code == code), None)

    def period(self, period: str) -> PeriodConfig | None:
        return next((p for p in self.periods if p.period == period), None)

    @property
    def latest_period(self) -> str:
        return max(self.periods, key=lambda p: p.due).period


class ConfigError(Exception):
    """A county config that cannot be used; the message is Chinese and says where."""


def load_county(path: Path | str = DEMO_CONFIG) -> CountyConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"找不到县配置文件：{path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"县配置文件 {path} 格式有误：{exc}") from None
    try:
        return CountyConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])) or '（整体）'}：{e['msg']}" for e in exc.errors()]
        raise ConfigError(f"县配置文件 {path} 有误：\n" + "\n".join(lines)) from None
