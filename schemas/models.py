"""Pydantic models of a township return: cover, summary of indicators, roster and ledger.

Every field is optional at the model level so that a partly wrong return still yields a
model the rules can check; "required" is a property of the field (``FieldSpec.required``)
that the ``required`` rule reports on. Coercion of what people type lives in the field types
(``BeforeValidator``s from ``nianbao.schemas.coerce``), so reading a cell and validating it are one step.

Column metadata (Chinese label, unit, width, choices, text format) is attached to each field
with :func:`col` and read back with :func:`field_specs`; the template and the reader take
their columns from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from nianbao.schemas import coerce
from nianbao.schemas.indicators import INDICATORS, MONEY_UNIT, Indicator

Count = Annotated[int | None, BeforeValidator(coerce.to_count)]
Money = Annotated[Decimal | None, BeforeValidator(coerce.to_money)]
Yuan = Annotated[Decimal | None, BeforeValidator(coerce.to_yuan)]
YesNo = Annotated[bool | None, BeforeValidator(coerce.to_yes_no)]
Text = Annotated[str | None, BeforeValidator(coerce.to_text)]
Code = Annotated[str | None, BeforeValidator(coerce.to_code)]
Day = Annotated[date | None, BeforeValidator(coerce.to_date)]

UnitType = Literal["企业", "机关", "事业单位", "社会组织", "其他"]
HardshipType = Literal["因病", "因残", "因灾", "子女就学", "失业", "单亲", "其他"]
AidMethod = Literal["生活救助", "医疗救助", "助学", "就业帮扶", "送温暖", "其他"]

PERIOD_PATTERN = r"^\d{4}(H[12])?$"
TOWNSHIP_CODE_PATTERN = r"^\d{9}(\d{3})?$"
# Any reporting unit: a township (9 or 12 digits) or, one level up, a county or city (6 digits).
UNIT_CODE_PATTERN = r"^\d{6}(\d{3}(\d{3})?)?$"


def _choice(literal: Any) -> Any:
    return Annotated[literal | None, BeforeValidator(coerce.OneOf(get_args(literal)))]


def col(label: str, *, width: int = 12, unit: str | None = None, required: bool = True, text: bool = False) -> Any:
    """A model field with its sheet metadata; the default is a blank (None)."""
    return Field(
        default=None,
        title=label,
        json_schema_extra={"width": width, "unit": unit, "required": required, "text": text},
    )


@dataclass(frozen=True)
class FieldSpec:
    """How one model field appears on a sheet."""

    name: str
    label: str
    kind: str  # count | money | yuan | yesno | text | code | date | choice
    unit: str | None
    width: int
    required: bool
    text: bool
    choices: tuple[str, ...] = ()

    @property
    def header(self) -> str:
        return f"{self.label}（{self.unit}）" if self.unit else self.label


_KIND_BY_VALIDATOR = {
    coerce.to_count: "count",
    coerce.to_money: "money",
    coerce.to_yuan: "yuan",
    coerce.to_yes_no: "yesno",
    coerce.to_text: "text",
    coerce.to_code: "code",
    coerce.to_date: "date",
}


def _kind_and_choices(info: Any) -> tuple[str, tuple[str, ...]]:
    for meta in info.metadata:
        func = getattr(meta, "func", None)
        if isinstance(func, coerce.OneOf):
            return "choice", func.options
        if isinstance(func, coerce.Matching):
            return "text", ()
        if func in _KIND_BY_VALIDATOR:
            return _KIND_BY_VALIDATOR[func], ()
    raise TypeError(f"field without a known cell type: {info}")


@cache
def field_specs(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    specs = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra or {}
        kind, choices = _kind_and_choices(info)
        specs.append(
            FieldSpec(
                name=name,
                label=info.title or name,
                kind=kind,
                unit=extra.get("unit"),
                width=extra.get("width", 12),
                required=extra.get("required", True),
                text=extra.get("text", False) or kind == "code",
                choices=choices,
            )
        )
    return tuple(specs)


class Cover(BaseModel):
    """封面: who reports, for which period, and who filled it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    township_code: Code = col("填报单位代码", width=16, text=True)
    township_name: Text = col("填报单位名称", width=24)
    period: Annotated[str | None, BeforeValidator(coerce.Matching(PERIOD_PATTERN, "如 2025（全年）或 2025H1（上半年）的报告期"))] = col(
        "报告期", width=10, text=True
    )
    filler: Text = col("填表人", width=12)
    phone: Code = col("联系电话", width=16, text=True)
    head: Text = col("单位负责人", width=12)
    fill_date: Day = col("填报日期", width=14)
    note: Text = col("备注", width=30, required=False)


class RosterRow(BaseModel):
    """基层工会名册: one base-level unit."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: Text = col("单位名称", width=30)
    uscc: Code = col("统一社会信用代码", width=22, text=True)
    unit_type: _choice(UnitType) = col("单位类型", width=10)
    employees: Count = col("职工人数", unit="人", width=10)
    female_employees: Count = col("其中女职工", unit="人", width=10)
    migrant_employees: Count = col("其中农民工", unit="人", width=10)
    members: Count = col("会员人数", unit="人", width=10)
    has_union: YesNo = col("是否建会", width=8)
    union_year: Count = col("建会年份", width=8, required=False)
    has_contract: YesNo = col("是否签订集体合同", width=10)
    has_wage_agreement: YesNo = col("是否签订工资专项协议", width=10)
    has_open_affairs: YesNo = col("是否实行厂务公开", width=10)
    has_congress: YesNo = col("是否建立职代会", width=10)
    pays_dues: YesNo = col("是否缴纳工会经费", width=10)
    dues_amount: Money = col("缴纳金额", unit=MONEY_UNIT, width=12, required=False)
    # Filled on a county's return to its city (each unit keeps its township); blank on a township's.
    township: Text = col("所属乡镇", width=12, required=False)


class LedgerRow(BaseModel):
    """困难职工帮扶台账: one assistance given to one person. Holds personal data."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: Text = col("姓名", width=10)
    id_number: Code = col("身份证号", width=22, text=True)
    employer: Text = col("所在单位", width=28)
    hardship_type: _choice(HardshipType) = col("困难类型", width=10)
    aid_method: _choice(AidMethod) = col("帮扶方式", width=10)
    amount: Yuan = col("帮扶金额", unit="元", width=12)
    aid_date: Day = col("帮扶日期", width=12)


class AidRow(BaseModel):
    """帮扶汇总: the hardship ledger reduced to counts and amounts, one row per 困难类型 and 帮扶方式.

    What a county reports upward instead of the ledger (names and ID numbers stay in the county);
    the cross-sheet rules count these rows' 人次 and 金额 as they count the ledger's rows.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    hardship_type: _choice(HardshipType) = col("困难类型", width=10)
    aid_method: _choice(AidMethod) = col("帮扶方式", width=10)
    cases: Count = col("帮扶人次", unit="人次", width=10)
    amount: Yuan = col("帮扶金额", unit="元", width=14)


def _indicator_field(ind: Indicator) -> tuple[Any, Any]:
    typ = Money if ind.is_money else Count
    return typ, col(ind.label, unit=ind.unit, required=ind.required)


Summary = create_model(
    "Summary",
    __config__=ConfigDict(frozen=True, extra="forbid"),
    __doc__="主要指标: one value per indicator of the catalogue, keyed by indicator code.",
    **{ind.code: _indicator_field(ind) for ind in INDICATORS},
)


NOTE_LABEL = "情况说明"
NOTE_MAX = 100  # characters: a sentence or two; the template's limit for any text cell


def _note_field(ind: Indicator) -> tuple[Any, Any]:
    return Text, col(f"{ind.label}{NOTE_LABEL}", width=30, required=False)


Notes = create_model(
    "Notes",
    __config__=ConfigDict(frozen=True, extra="forbid"),
    __doc__="情况说明: the township's optional explanation beside each indicator, keyed by indicator code.",
    **{ind.code: _note_field(ind) for ind in INDICATORS},
)


class TownshipReturn(BaseModel):
    """One township's return for one period.

    The detail-table models and this one build their pydantic schemas when first used
    (``defer_build``): ``nianbao validate`` builds rows and the return from values it has
    already checked (``nianbao.schemas.parse``), so a valid file never needs them."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    cover: Cover = Cover()
    summary: Summary = Field(default_factory=Summary)  # type: ignore[valid-type]
    notes: Notes = Field(default_factory=Notes)  # type: ignore[valid-type]
    roster: list[RosterRow] = []
    ledger: list[LedgerRow] = []
    aid: list[AidRow] = []  # 帮扶汇总: a return reported upward carries this instead of the ledger


class Period(str):
    """A reporting period: a year ``2025`` or a half-year ``2025H1`` / ``2025H2``."""

    def __new__(cls, value: str) -> "Period":
        text = str(value).strip().upper()
        if not re.fullmatch(PERIOD_PATTERN, text):
            raise ValueError(f"报告期「{value}」格式不对，应为 2025 或 2025H1")
        return super().__new__(cls, text)

    @property
    def year(self) -> int:
        return int(self[:4])

    @property
    def half(self) -> int | None:
        return int(self[5]) if len(self) > 4 else None

    @property
    def first_day(self) -> date:
        return date(self.year, 7 if self.half == 2 else 1, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    def previous(self) -> "Period":
        """The same period one year earlier, for year-on-year comparison."""
        return Period(f"{self.year - 1}{self[4:]}")

    @property
    def label(self) -> str:
        return {None: f"{self.year}年", 1: f"{self.year}年上半年", 2: f"{self.year}年下半年"}[self.half]
