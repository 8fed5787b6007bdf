"""The indicator catalogue: every summary indicator of a township return, declared once.

Everything else (the pydantic summary model, the template rows, the reader, the intra-table
rules, the consolidation columns and the master workbook layout) is derived from ``INDICATORS``
and ``RATES``. Adding an indicator means adding one line here.

``part_of`` declares a "其中" relation: the indicator is a part of another one and can never
exceed it; the matching rule (code ``le.<code>``) is generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass

MONEY_UNIT = "万元"
UNITS = ("家", "个", "人", "人次", "件", "户", "条", "项", "份", "次", "场", MONEY_UNIT)


@dataclass(frozen=True)
class Section:
    code: str
    label: str


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    unit: str
    section: str
    part_of: str | None = None
    required: bool = True

    @property
    def is_money(self) -> bool:
        return self.unit == MONEY_UNIT

    @property
    def kind(self) -> str:
        """'money' (万元, two decimals) or 'count' (whole number)."""
        return "money" if self.is_money else "count"


@dataclass(frozen=True)
class Rate:
    """A derived rate: numerator / denominator, computed from sums, never typed or averaged."""

    code: str
    label: str
    numerator: str
    denominator: str


SECTIONS: tuple[Section, ...] = (
    Section("A", "组织建设"),
    Section("B", "集体协商"),
    Section("C", "维权服务"),
    Section("D", "帮扶救助"),
    Section("E", "安全与竞赛"),
    Section("F", "工会经费"),
)


def _i(code, label, unit, part_of=None, required=True):
    return Indicator(code, label, unit, code[0], part_of, required)


INDICATORS: tuple[Indicator, ...] = (
    _i("A01", "辖区法人单位数", "家"),
    _i("A02", "应建会单位数", "家", part_of="A01"),
    _i("A03", "已建会单位数", "家", part_of="A02"),
    _i("A04", "基层工会组织数", "个"),
    _i("A05", "本年新建基层工会", "个", part_of="A04"),
    _i("A06", "本年换届工会", "个", part_of="A04"),
    _i("A07", "职工人数", "人"),
    _i("A08", "其中：女职工", "人", part_of="A07"),
    _i("A09", "其中：农民工", "人", part_of="A07"),
    _i("A10", "会员人数", "人"),
    _i("A11", "其中：女会员", "人", part_of="A10"),
    _i("A12", "其中：农民工会员", "人", part_of="A10"),
    _i("A13", "本年新发展会员", "人", part_of="A10"),
    _i("A14", "女职工委员会", "个"),
    _i("A15", "经费审查委员会", "个"),
    _i("A16", "建立职代会制度单位", "家"),
    _i("A17", "实行厂务公开单位", "家"),
    _i("A18", "劳动保护监督检查委员会", "个"),
    _i("A19", "劳动法律监督组织", "个"),
    _i("A20", "劳动争议调解委员会", "个"),
    _i("A21", "职工之家", "个"),
    _i("A22", "职工书屋", "个"),
    _i("B01", "集体合同份数", "份"),
    _i("B02", "工资专项集体协议", "份"),
    _i("B03", "区域性、行业性集体合同", "份"),
    _i("B04", "女职工权益保护专项集体合同", "份"),
    _i("B05", "集体合同覆盖企业数", "家"),
    _i("B06", "集体合同覆盖职工人数", "人"),
    _i("C01", "受理职工信访", "件"),
    _i("C02", "其中：上级转办", "件", part_of="C01"),
    _i("C03", "其中：直接接访", "件", part_of="C01"),
    _i("C04", "信访办结件数", "件", part_of="C01"),
    _i("C05", "调解劳动争议", "件"),
    _i("C06", "其中：调解成功", "件", part_of="C05"),
    _i("C07", "调解涉及金额", MONEY_UNIT),
    _i("C08", "帮助追讨欠薪人数", "人"),
    _i("C09", "追讨欠薪金额", MONEY_UNIT),
    _i("C10", "法律援助件数", "件"),
    _i("D01", "建档困难职工", "户"),
    _i("D02", "其中：本年新建档", "户", part_of="D01"),
    _i("D03", "帮扶困难职工", "人次"),
    _i("D04", "帮扶资金", MONEY_UNIT),
    _i("D05", "两节送温暖", "户"),
    _i("D06", "送温暖资金", MONEY_UNIT),
    _i("D07", "金秋助学", "人"),
    _i("D08", "金秋助学金额", MONEY_UNIT),
    _i("D09", "慰问工伤职工", "人"),
    _i("D10", "职工互助保险参保单位", "家"),
    _i("D11", "职工互助保险参保人数", "人"),
    _i("D12", "互助保险理赔人次", "人次"),
    _i("D13", "互助保险理赔金额", MONEY_UNIT),
    _i("E01", "参加“安康杯”竞赛企业", "家"),
    _i("E02", "参加“安康杯”竞赛职工人数", "人"),
    _i("E03", "安全检查次数", "次"),
    _i("E04", "劳动竞赛、技能比武场次", "场"),
    _i("E05", "劳动竞赛、技能比武参加人次", "人次"),
    _i("E06", "合理化建议", "条"),
    _i("E07", "技术革新项目", "项"),
    _i("E08", "专利", "项"),
    _i("E09", "职工培训", "人次"),
    _i("E10", "组织免费体检", "人"),
    _i("F01", "缴纳经费单位数", "家"),
    _i("F02", "已办理返还手续单位数", "家", part_of="F01"),
    _i("F03", "收缴工会经费", MONEY_UNIT),
    _i("F04", "年度收缴任务", MONEY_UNIT),
)

RATES: tuple[Rate, ...] = (
    Rate("R01", "建会率", "A03", "A02"),
    Rate("R02", "入会率", "A10", "A07"),
    Rate("R03", "信访办结率", "C04", "C01"),
    Rate("R04", "调解成功率", "C06", "C05"),
    Rate("R05", "经费任务完成率", "F03", "F04"),
)



@dataclass(frozen=True)
class Ratio:
    """A per-township ratio comparable across townships (outlier check): numerator / denominator
    × ``scale``, shown in ``unit``. Rates appear here too, in per cent."""

    code: str
    label: str
    numerator: str
    denominator: str
    unit: str
    scale: float = 1.0


def _rate_ratio(code: str) -> Ratio:
    rate = next(r for r in RATES if r.code == code)
    return Ratio(rate.code, rate.label, rate.numerator, rate.denominator, "%", 100.0)


# Compared across townships with a robust measure (nianbao.outliers). Shares that are ~100%
# everywhere (信访办结率, 调解成功率) tell little across townships and are left out.
COMPARABLE: tuple[Ratio, ...] = (
    _rate_ratio("R01"),
    _rate_ratio("R02"),
    _rate_ratio("R05"),
    Ratio("P01", "每个基层工会会员数", "A10", "A04", "人/个"),
    Ratio("P02", "每人次帮扶资金", "D04", "D03", "元/人次", 10000.0),
    Ratio("P03", "每户送温暖资金", "D06", "D05", "元/户", 10000.0),
    Ratio("P04", "每人金秋助学金额", "D08", "D07", "元/人", 10000.0),
    Ratio("P05", "每家缴费单位经费", "F03", "F01", "万元/家"),
)

BY_CODE: dict[str, Indicator] = {i.code: i for i in INDICATORS}
INDICATOR_CODES: tuple[str, ...] = tuple(BY_CODE)
SECTION_BY_CODE: dict[str, Section] = {s.code: s for s in SECTIONS}


def indicators_in(section: str) -> tuple[Indicator, ...]:
    return tuple(i for i in INDICATORS if i.section == section)

# "Parts add up": total = sum(parts). Declared here so the rule and the template self-check
# column are generated from the catalogue.
SUMS: tuple[tuple[str, tuple[str, ...]], ...] = (("C01", ("C02", "C03")),)
