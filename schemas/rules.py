"""Audit rules (审核公式) over a parsed ``TownshipReturn``.

Each rule is a small named unit with a stable code and a severity; ``check`` yields findings
lazily. Intra-table rules for 其中 ≤ 合计 and parts-add-up are generated from the indicator
catalogue (``part_of`` and ``SUMS``) so adding an indicator adds its rule. Rules skip operands
that are blank or invalid: those already have a cell-level finding from ``nianbao.schemas.parse``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import attrgetter

from nianbao.schemas.codes import ric_valid, uscc_valid
from nianbao.schemas.county import CountyConfig, Limits
from nianbao.schemas.findings import Finding, Severity
from nianbao.schemas.indicators import BY_CODE, INDICATORS, SUMS
from nianbao.schemas.models import LedgerRow, Period, RosterRow, Summary, TownshipReturn, field_specs
from nianbao.schemas.privacy import mask_id


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know beyond the return: the expected period and the county config."""

    period: str | None = None
    county: CountyConfig | None = None
    today: date = field(default_factory=date.today)


Check = Callable[[TownshipReturn, RuleContext], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    title: str
    check: Check

    def run(self, ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
        for finding in self.check(ret, ctx):
            yield finding.model_copy(update={"code": self.code, "severity": self.severity})


def _f(message: str, **kw) -> Finding:
    # code and severity are stamped by Rule.run
    return Finding(code="", severity=Severity.ERROR, message=message, **kw)


def _num(value: int | Decimal | None) -> str:
    return "" if value is None else f"{value:,}"


_ROSTER_LABEL = {s.name: s.label for s in field_specs(RosterRow)}
_LEDGER_LABEL = {s.name: s.label for s in field_specs(LedgerRow)}

_columns_of = threading.local()  # .ret: the return whose columns .cache holds, per thread


def _column(ret: TownshipReturn, sheet: str, name: str) -> list:
    """One field of every roster or ledger row, as a list: rules work column by column.

    Several rules read the same columns of the same return; they are taken once per return
    (the cache holds the return itself, so a new return cannot be mistaken for it).
    """
    if getattr(_columns_of, "ret", None) is not ret:
        _columns_of.ret, _columns_of.cache = ret, {}
    cache = _columns_of.cache
    key = (sheet, name)
    if key not in cache:
        rows = ret.roster if sheet == "roster" else ret.ledger
        cache[key] = list(map(attrgetter(name), rows))
    return cache[key]


# --- 表内: generated from the catalogue -------------------------------------------------------


def _part_le_whole(part: str, whole: str) -> Check:
    def check(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
        p, w = getattr(ret.summary, part), getattr(ret.summary, whole)
        if p is not None and w is not None and p > w:
            yield _f(
                f"填写了 {_num(p)}，应不大于「{BY_CODE[whole].label}」（{whole}）的 {_num(w)}",
                field=f"summary.{part}",
                label=BY_CODE[part].label,
                value=str(p),
                expected=f"≤ {w}",
            )

    return check


def _parts_add_up(total: str, parts: tuple[str, ...]) -> Check:
    def check(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
        t = getattr(ret.summary, total)
        values = [getattr(ret.summary, p) for p in parts]
        if t is None or any(v is None for v in values) or sum(values) == t:
            return
        terms = " + ".join(f"「{BY_CODE[p].label}」{_num(v)}" for p, v in zip(parts, values))
        yield _f(
            f"填写了 {_num(t)}，但{terms} = {_num(sum(values))}，两者应相等",
            field=f"summary.{total}",
            label=BY_CODE[total].label,
            value=str(t),
            expected=f"= {sum(values)}",
        )

    return check


# --- 封面 ---------------------------------------------------------------------------------------


def _cover_period(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    found = ret.cover.period
    if ctx.period and found and found.upper() != str(Period(ctx.period)):
        yield _f(f"报告期为 {found}，本次收取的是 {ctx.period} 的报表", field="cover.period", label="报告期", value=found, expected=ctx.period)


def _cover_township(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    code = ret.cover.township_code
    if ctx.county and code and ctx.county.township(code) is None:
        yield _f(
            f"填报单位代码 {code} 不在{ctx.county.county_name}的{ctx.county.info.child}名单中，"
            f"请使用{ctx.county.level.value}总工会下发的模板",
            field="cover.township_code",
            label="填报单位代码",
            value=code,
            expected="县配置中的乡镇代码",
        )


# The start of the cover's 备注 on a return reported upward although its units had open errors.
FORCED_MARK = "强制上报"


def _cover_forced(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    note = ret.cover.note or ""
    if note.startswith(FORCED_MARK):
        yield _f(
            f"本报表为强制上报，备注：「{note}」；其下级报表的审核错误尚未解决，汇总数可能还会变动",
            field="cover.note",
            label="备注",
            value=note,
            expected="下级报表审核无误后上报",
        )


_PHONE = re.compile(r"^(0\d{2,3}-?\d{7,8}(-\d{1,5})?|1[3-9]\d{9})$")


def _cover_phone(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    phone = ret.cover.phone
    if phone and not _PHONE.match(phone):
        yield _f(
            f"「{phone}」不像有效的电话号码",
            field="cover.phone",
            label="联系电话",
            value=phone,
            expected="座机如 0391-1234567 或 11 位手机号",
        )


def _cover_date(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    filled, period = ret.cover.fill_date, ctx.period or ret.cover.period
    if not filled or not period:
        return
    try:
        first = Period(period).first_day
    except ValueError:
        return
    if filled < first or filled > ctx.today:
        yield _f(
            f"填报日期 {filled:%Y-%m-%d} 不在报告期开始（{first:%Y-%m-%d}）到今天之间",
            field="cover.fill_date",
            label="填报日期",
            value=f"{filled:%Y-%m-%d}",
            expected=f"{first:%Y-%m-%d} 至 {ctx.today:%Y-%m-%d}",
        )


# --- 基层工会名册 -------------------------------------------------------------------------------

def _code_problem(kind: str, value: str) -> str | None:
    """Why python-stdnum (the definition) rejects ``value`` as a USCC (``kind`` "uscc") or an
    ID number ("ric"), in Chinese; None if it accepts it. Only codes the fast checks of
    ``nianbao.schemas.codes`` reject come here, so a valid return never imports stdnum."""
    from stdnum import exceptions as exc
    from stdnum.cn import ric, uscc

    reasons = {
        exc.InvalidLength: "长度应为 18 位",
        exc.InvalidFormat: "含有不允许的字符",
        exc.InvalidComponent: "登记管理部门代码或机构类别代码不对" if kind == "uscc" else "出生日期或地区码不对",
        exc.InvalidChecksum: "最后一位校验码不对",
    }
    try:
        (uscc if kind == "uscc" else ric).validate(value)
    except exc.ValidationError as error:
        for cls, reason in reasons.items():
            if isinstance(error, cls):
                return reason
        return "格式不对"
    except (KeyError, IndexError, ValueError):
        # python-stdnum 2.2's ric.validate raises KeyError for some region codes in its
        # database (e.g. 358422); a typo there must be a finding, not an unreadable file.
        return "地区码不对" if kind == "ric" else "格式不对"
    return None


def _roster_uscc(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    codes = _column(ret, "roster", "uscc")
    filled = [(i, code) for i, code in enumerate(codes) if code]
    ok = uscc_valid([code for _, code in filled])
    for (i, code), fine in zip(filled, ok):
        if not fine and (reason := _code_problem("uscc", code)):
            yield _f(
                f"统一社会信用代码「{code}」{reason}（GB 32100-2015），请与营业执照核对",
                field=f"roster.{i}.uscc",
                label=_ROSTER_LABEL["uscc"],
                value=code,
                expected="18 位有效的统一社会信用代码",
            )


def _roster_duplicate(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    codes = _column(ret, "roster", "uscc")
    filled = [code for code in codes if code]
    if len(set(filled)) == len(filled):  # the usual case: nothing repeated
        return
    first_seen: dict[str, int] = {}
    for i, code in enumerate(codes):
        if not code:
            continue
        if code in first_seen:
            j = first_seen[code]
            yield _f(
                f"「{ret.roster[i].name or ''}」的统一社会信用代码 {code} 与名册第 {j + 1} 个单位「{ret.roster[j].name or ''}」重复，同一单位只能填一行",
                field=f"roster.{i}.uscc",
                label=_ROSTER_LABEL["uscc"],
                value=code,
                expected="名册内不重复",
            )
        else:
            first_seen[code] = i


def _row_le(part: str, whole: str) -> Check:
    def check(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
        for i, (p, w) in enumerate(zip(_column(ret, "roster", part), _column(ret, "roster", whole))):
            if p is not None and w is not None and p > w:
                yield _f(
                    f"填写了 {_num(p)}，应不大于本行「{_ROSTER_LABEL[whole]}」{_num(w)}",
                    field=f"roster.{i}.{part}",
                    label=_ROSTER_LABEL[part],
                    value=str(p),
                    expected=f"≤ {w}",
                )

    return check


def _roster_union_year(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    period = ctx.period or ret.cover.period
    last_year = Period(period).year if period and re.match(r"^\d{4}", period) else ctx.today.year
    has, year = _column(ret, "roster", "has_union"), _column(ret, "roster", "union_year")
    if all((y is not None and 1949 <= y <= last_year) if h else (y is None) for h, y in zip(has, year)):
        return  # the usual case, checked column by column: every row consistent
    for i, row in enumerate(ret.roster):
        where = dict(field=f"roster.{i}.union_year", label=_ROSTER_LABEL["union_year"])
        if row.has_union and row.union_year is None:
            yield _f("本单位已建会，应填写建会年份", expected=f"1949—{last_year} 的年份", **where)
        elif row.union_year is not None and not 1949 <= row.union_year <= last_year:
            yield _f(f"建会年份 {row.union_year} 不合理", value=str(row.union_year), expected=f"1949—{last_year} 的年份", **where)
        elif row.has_union is False and row.union_year is not None:
            yield _f(f"本单位填了未建会，却有建会年份 {row.union_year}", value=str(row.union_year), expected="未建会时留空", **where)


def _roster_dues(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    pays, amount = _column(ret, "roster", "pays_dues"), _column(ret, "roster", "dues_amount")
    if all(a is not None if p else (p is None or not a) for p, a in zip(pays, amount)):
        return  # the usual case, checked column by column: every row consistent
    for i, row in enumerate(ret.roster):
        where = dict(field=f"roster.{i}.dues_amount", label=_ROSTER_LABEL["dues_amount"])
        if row.pays_dues and row.dues_amount is None:
            yield _f("本单位填了缴纳工会经费，应填写缴纳金额", expected="≥0 的金额（万元）", **where)
        elif row.pays_dues is False and row.dues_amount:
            yield _f(f"本单位填了未缴纳工会经费，却有缴纳金额 {row.dues_amount}", value=str(row.dues_amount), expected="未缴纳时留空或填 0", **where)


# --- 表间: roster and ledger against the summary -------------------------------------------------


def _cross(
    code: str,
    what: str,
    sheet: str,
    aggregate: Callable[[TownshipReturn], int | Decimal],
    slack: Callable[[TownshipReturn], Decimal] = lambda ret: Decimal(0),
) -> Check:
    """The summary indicator ``code`` must equal an aggregate of a detail sheet (within ``slack``)."""

    def check(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
        rows = ret.roster if sheet == "roster" else ret.ledger
        declared = getattr(ret.summary, code)
        if declared is None or (not rows and sheet == "roster"):
            return
        actual = aggregate(ret)
        if abs(actual - declared) > slack(ret):
            sheet_label = "基层工会名册" if sheet == "roster" else ("帮扶汇总" if ret.aid else "困难职工帮扶台账")
            yield _f(
                f"填写了 {_num(declared)}，但「{sheet_label}」中{what}为 {_num(actual)}，两者应一致",
                field=f"summary.{code}",
                label=BY_CODE[code].label,
                value=str(declared),
                expected=f"= {actual}",
            )

    return check


def _count(attr: str) -> Callable[[TownshipReturn], int]:
    return lambda ret: sum(map(bool, _column(ret, "roster", attr)))


def _total(attr: str) -> Callable[[TownshipReturn], int | Decimal]:
    return lambda ret: sum(v for v in _column(ret, "roster", attr) if v is not None)


def _ledger_cases(ret: TownshipReturn) -> int:
    """帮扶人次: one per ledger row, plus the 帮扶汇总 counts of a return reported upward."""
    return len(ret.ledger) + sum((r.cases or 0) for r in ret.aid)


def _ledger_amount_wan(ret: TownshipReturn) -> Decimal:
    yuan = sum((v for v in _column(ret, "ledger", "amount") if v is not None), Decimal(0)) + sum((r.amount or Decimal(0)) for r in ret.aid)
    return (Decimal(yuan) / 10000).quantize(Decimal("0.01"))


def _rounding_of_lower_returns(ret: TownshipReturn) -> Decimal:
    """帮扶资金 of a return reported upward is the sum of its lower returns' figures, each rounded
    to 0.01 万元, while 帮扶汇总 keeps exact 元: allow half a cent of 万元 per lower return (the
    townships named in the roster's 所属乡镇)."""
    if not ret.aid:
        return Decimal(0)
    return Decimal("0.005") * max(1, len({r.township for r in ret.roster if r.township}))


def _aid_or_ledger(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    if ret.ledger and ret.aid:
        yield _f(
            f"「困难职工帮扶台账」有 {len(ret.ledger)} 行，「帮扶汇总」也有 {len(ret.aid)} 行；两者只能填一个，"
            "乡镇报表填台账，上报上级的汇总报表填帮扶汇总",
            field="aid",
            value=str(len(ret.aid)),
            expected="帮扶汇总为空（或台账为空）",
        )


def _roster_present(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    if not ret.roster and (ret.summary.A03 or 0) > 0:
        yield _f(
            f"名册没有填写任何单位，但「主要指标」已建会单位数为 {ret.summary.A03}",
            field="roster",
            expected="每个已建会单位一行",
        )


# --- 困难职工帮扶台账 (personal data: messages carry masked IDs and no names) ----------------------


def _ledger_id(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    for i, code in enumerate(_column(ret, "ledger", "id_number")):
        if code and not ric_valid(code) and (reason := _code_problem("ric", code)):
            masked = mask_id(code)
            yield _f(
                f"身份证号 {masked} {reason}（GB 11643），请核对",
                field=f"ledger.{i}.id_number",
                label=_LEDGER_LABEL["id_number"],
                value=masked,
                expected="18 位有效的身份证号",
            )


def _ledger_date(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    period = ctx.period or ret.cover.period
    try:
        p = Period(period) if period else None
    except ValueError:
        p = None
    if p is None:
        return
    for i, row in enumerate(ret.ledger):
        if row.aid_date and not p.first_day <= row.aid_date <= p.last_day:
            yield _f(
                f"帮扶日期 {row.aid_date:%Y-%m-%d} 不在报告期 {p.label}内",
                field=f"ledger.{i}.aid_date",
                label=_LEDGER_LABEL["aid_date"],
                value=f"{row.aid_date:%Y-%m-%d}",
                expected=f"{p.first_day:%Y-%m-%d} 至 {p.last_day:%Y-%m-%d}",
            )


def _ledger_duplicate(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    seen: dict[tuple[str, date | None], int] = {}
    for i, row in enumerate(ret.ledger):
        if not row.id_number:
            continue
        key = (row.id_number, row.aid_date)
        if key in seen:
            yield _f(
                f"与台账第 {seen[key] + 1} 行是同一人同一天的帮扶（身份证号 {mask_id(row.id_number)}），请确认不是重复登记",
                field=f"ledger.{i}.id_number",
                label=_LEDGER_LABEL["id_number"],
                value=mask_id(row.id_number),
                expected="同一人同一天只登记一次",
            )
        else:
            seen[key] = i


# --- sane bounds per unit (configurable in the county config) ------------------------------------


def _too_large(ret: TownshipReturn, ctx: RuleContext) -> Iterator[Finding]:
    limits = ctx.county.limits if ctx.county is not None else Limits()
    bound = {"count": limits.count, "money": limits.money, "yuan": limits.yuan}
    unit_word = {"count": "", "money": "万元", "yuan": "元"}
    for prefix, model, records in (
        ("summary", None, [ret.summary]),
        ("roster", RosterRow, ret.roster),
        ("ledger", LedgerRow, ret.ledger),
    ):
        specs = _BOUNDED[prefix]
        if model is not None and not any(  # the usual case, column by column: nothing too large
            v is not None and v > bound[kind] for name, kind, _ in specs for v in _column(ret, prefix, name)
        ):
            continue
        for i, record in enumerate(records):
            for name, kind, label in specs:
                value = getattr(record, name)
                if value is not None and value > bound[kind]:
                    where = f"{prefix}.{name}" if model is None else f"{prefix}.{i}.{name}"
                    yield _f(
                        f"填写了 {_num(value)}{unit_word[kind]}，超过合理上限 {_num(bound[kind])}{unit_word[kind]}，请核实是否多填了位数或填错了单元格",
                        field=where,
                        label=label,
                        value=str(value),
                        expected=f"≤ {bound[kind]}",
                    )


_BOUNDED = {
    prefix: tuple((s.name, s.kind, s.label) for s in field_specs(model) if s.kind in ("count", "money", "yuan"))
    for prefix, model in (("summary", Summary), ("roster", RosterRow), ("ledger", LedgerRow))
}


# --- the rule book -------------------------------------------------------------------------------

E, W = Severity.ERROR, Severity.WARNING

RULES: tuple[Rule, ...] = (
    *(Rule(f"le.{i.code}", E, f"{i.label} ≤ {BY_CODE[i.part_of].label}", _part_le_whole(i.code, i.part_of)) for i in INDICATORS if i.part_of),
    *(Rule(f"sum.{t}", E, f"{BY_CODE[t].label} = " + " + ".join(BY_CODE[p].label for p in ps), _parts_add_up(t, ps)) for t, ps in SUMS),
    Rule("value.too_large", E, "数值不超过县配置的合理上限", _too_large),
    Rule("cover.period", E, "报告期与本次收取的报告期一致", _cover_period),
    Rule("cover.township", E, "填报单位属于本县", _cover_township),
    Rule("cover.phone", W, "联系电话格式", _cover_phone),
    Rule("cover.forced", W, "强制上报的汇总报表", _cover_forced),
    Rule("cover.fill_date", W, "填报日期合理", _cover_date),
    Rule("roster.empty", E, "已建会单位应填写名册", _roster_present),
    Rule("roster.uscc", E, "统一社会信用代码校验位", _roster_uscc),
    Rule("roster.duplicate", E, "名册内单位不重复", _roster_duplicate),
    Rule("roster.female", E, "其中女职工 ≤ 职工人数", _row_le("female_employees", "employees")),
    Rule("roster.migrant", E, "其中农民工 ≤ 职工人数", _row_le("migrant_employees", "employees")),
    Rule("roster.members", W, "会员人数一般不超过职工人数", _row_le("members", "employees")),
    Rule("roster.union_year", E, "建会年份与是否建会一致", _roster_union_year),
    Rule("roster.dues", E, "缴纳金额与是否缴纳一致", _roster_dues),
    Rule("xt.A03", E, "已建会单位数 = 名册中已建会单位数", _cross("A03", "已建会的单位数", "roster", _count("has_union"))),
    Rule("xt.A07", E, "职工人数 = 名册职工人数合计", _cross("A07", "职工人数合计", "roster", _total("employees"))),
    Rule("xt.A08", E, "女职工 = 名册女职工合计", _cross("A08", "女职工合计", "roster", _total("female_employees"))),
    Rule("xt.A09", E, "农民工 = 名册农民工合计", _cross("A09", "农民工合计", "roster", _total("migrant_employees"))),
    Rule("xt.A10", E, "会员人数 = 名册会员人数合计", _cross("A10", "会员人数合计", "roster", _total("members"))),
    Rule("xt.F01", E, "缴纳经费单位数 = 名册中缴纳经费的单位数", _cross("F01", "缴纳工会经费的单位数", "roster", _count("pays_dues"))),
    Rule("xt.F03", W, "收缴工会经费 = 名册缴纳金额合计", _cross("F03", "缴纳金额合计（万元）", "roster", _total("dues_amount"))),
    Rule("xt.D03", E, "帮扶困难职工人次 = 台账行数", _cross("D03", "登记的帮扶人次", "ledger", _ledger_cases)),
    Rule("xt.D04", W, "帮扶资金 = 台账帮扶金额合计", _cross("D04", "帮扶金额合计（折合万元）", "ledger", _ledger_amount_wan, _rounding_of_lower_returns)),
    Rule("ledger.id_number", E, "身份证号校验位", _ledger_id),
    Rule("ledger.aid_date", E, "帮扶日期在报告期内", _ledger_date),
    Rule("aid.with_ledger", E, "台账与帮扶汇总只填其一", _aid_or_ledger),
    Rule("ledger.duplicate", W, "同一人同一天不重复登记", _ledger_duplicate),
)

RULE_BY_CODE: dict[str, Rule] = {r.code: r for r in RULES}


def run_rules(ret: TownshipReturn, ctx: RuleContext = RuleContext(), rules: Iterable[Rule] = RULES) -> Iterator[Finding]:
    """All findings of all rules, lazily, in rule-book order."""
    for rule in rules:
        yield from rule.run(ret, ctx)
