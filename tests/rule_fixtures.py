"""One mutation of a valid sample return per finding code: the fixtures the rule tests share.

Each fixture turns a valid return (``nianbao.workbooks.sample.sample_return``) into one that triggers
its code at one model location, without tripping any other rule: where a change would break a
cross-sheet sum, the fixture moves the difference to another row so the sums still agree.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from nianbao.schemas.coerce import ExcelError
from nianbao.schemas.county import load_county
from nianbao.workbooks.sample import sample_return

COUNTY = load_county()
TOWN = COUNTY.townships[0]
PERIOD = "2025"


def base_values() -> dict:
    values = sample_return(TOWN, PERIOD, seed=7, roster_rows=8, ledger_rows=5)
    assert any(r["has_union"] == "是" for r in values["roster"]), "sample needs an organised unit"
    return values


@dataclass(frozen=True)
class Fixture:
    code: str
    field: str  # where the finding must be
    mutate: Callable[[dict], None]
    also: frozenset[str] = frozenset()  # codes that necessarily come along (see le.C02)

    def values(self) -> dict:
        values = copy.deepcopy(base_values())
        self.mutate(values)
        return values


def _set(section: str, key: str, value) -> Callable[[dict], None]:
    def mutate(v: dict) -> None:
        v[section][key] = value

    return mutate


def _bump(code: str, delta: int) -> Callable[[dict], None]:
    def mutate(v: dict) -> None:
        v["summary"][code] = v["summary"][code] + delta

    return mutate


def _exceed(part: str, whole: str) -> Callable[[dict], None]:
    def mutate(v: dict) -> None:
        v["summary"][part] = v["summary"][whole] + 1

    return mutate


def _shrink_whole(part: str, whole: str) -> Callable[[dict], None]:
    def mutate(v: dict) -> None:
        v["summary"][whole] = v["summary"][part] - 1

    return mutate


def _without_roster(inner: Callable[[dict], None]) -> Callable[[dict], None]:
    """A part and its whole that both must match roster sums can only disagree with no roster."""

    def mutate(v: dict) -> None:
        v["roster"] = []
        v["summary"]["A03"] = 0
        inner(v)

    return mutate


def _row_over(field: str, total: str) -> Callable[[dict], None]:
    """Row 0's ``field`` exceeds its 职工人数; the summary total follows so 表间 sums still agree."""

    def mutate(v: dict) -> None:
        row = v["roster"][0]
        excess = row["employees"] + 1 - row[field]
        row[field] += excess
        v["summary"][total] += excess

    return mutate


def _first(rows: list[dict], **match) -> dict:
    return next(r for r in rows if all(r[k] == val for k, val in match.items()))


def _union_year_missing(v: dict) -> None:
    _first(v["roster"], has_union="是")["union_year"] = None


def _dues_missing(v: dict) -> None:
    payers = [r for r in v["roster"] if r["pays_dues"] == "是"]
    assert len(payers) >= 2, "sample needs two dues payers"
    payers[1]["dues_amount"] = round(payers[1]["dues_amount"] + payers[0]["dues_amount"], 2)
    payers[0]["dues_amount"] = None


def _other_check_char(code: str) -> str:
    return code[:-1] + ("1" if code[-1] != "1" else "2")


def _bad_uscc(v: dict) -> None:
    v["roster"][0]["uscc"] = _other_check_char(v["roster"][0]["uscc"])


def _dup_uscc(v: dict) -> None:
    v["roster"][1]["uscc"] = v["roster"][0]["uscc"]


def _bad_id(v: dict) -> None:
    v["ledger"][0]["id_number"] = _other_check_char(v["ledger"][0]["id_number"])


def _dup_aid(v: dict) -> None:
    v["ledger"][1]["id_number"] = v["ledger"][0]["id_number"]
    v["ledger"][1]["aid_date"] = v["ledger"][0]["aid_date"]


def _no_roster(v: dict) -> None:
    v["roster"] = []


def _ledger(i: int, key: str, value) -> Callable[[dict], None]:
    def mutate(v: dict) -> None:
        v["ledger"][i][key] = value

    return mutate


def _set_aid(rows: list[dict]) -> Callable[[dict], None]:
    def mutate(v: dict) -> None:
        v["aid"] = copy.deepcopy(rows)

    return mutate


def _roster(i: int, key: str, value) -> Callable[[dict], None]:
    def mutate(v: dict) -> None:
        v["roster"][i][key] = value

    return mutate


FIXTURES: tuple[Fixture, ...] = (
    # cell level (nianbao.schemas.parse)
    Fixture("required", "cover.filler", _set("cover", "filler", None)),
    Fixture("cell.not_number", "summary.A14", _set("summary", "A14", "十二")),
    Fixture("cell.not_whole", "summary.A14", _set("summary", "A14", "12.5")),
    Fixture("cell.negative", "summary.A14", _set("summary", "A14", -1)),
    Fixture("cell.decimals", "summary.C07", _set("summary", "C07", 1.234)),
    Fixture("cell.wrong_unit", "summary.C07", _set("summary", "C07", "5元")),
    Fixture("cell.not_yes_no", "roster.2.has_contract", _roster(2, "has_contract", "可能")),
    Fixture("cell.not_choice", "roster.1.unit_type", _roster(1, "unit_type", "公司")),
    Fixture("cell.not_date", "cover.fill_date", _set("cover", "fill_date", "2026-02-30")),
    Fixture("cell.code_as_number", "ledger.0.id_number", _ledger(0, "id_number", 410102198801038000.0)),
    Fixture("cell.formula_no_value", "summary.A14", _set("summary", "A14", "=10+2")),
    Fixture("cell.excel_error", "summary.A14", _set("summary", "A14", ExcelError("#DIV/0!"))),
    Fixture("cell.too_large", "summary.A14", _set("summary", "A14", 1e308)),
    Fixture("cell.code_in_number", "summary.A14", _set("summary", "A14", "410102199001011234")),
    Fixture("cell.bad_format", "cover.period", _set("cover", "period", "2025年")),
    Fixture("value.too_large", "summary.A14", _set("summary", "A14", 10**8 + 1)),
    # 表内: generated from the catalogue
    Fixture("le.A02", "summary.A02", _exceed("A02", "A01")),
    Fixture("le.A03", "summary.A03", _shrink_whole("A03", "A02")),
    Fixture("le.A05", "summary.A05", _exceed("A05", "A04")),
    Fixture("le.A06", "summary.A06", _exceed("A06", "A04")),
    Fixture("le.A08", "summary.A08", _without_roster(_exceed("A08", "A07"))),
    Fixture("le.A09", "summary.A09", _without_roster(_exceed("A09", "A07"))),
    Fixture("le.A11", "summary.A11", _exceed("A11", "A10")),
    Fixture("le.A12", "summary.A12", _exceed("A12", "A10")),
    Fixture("le.A13", "summary.A13", _exceed("A13", "A10")),
    # a part above the total also breaks "parts add up": both codes are right
    Fixture("le.C02", "summary.C02", _exceed("C02", "C01"), frozenset({"sum.C01"})),
    Fixture("le.C03", "summary.C03", _exceed("C03", "C01"), frozenset({"sum.C01"})),
    Fixture("le.C04", "summary.C04", _exceed("C04", "C01")),
    Fixture("le.C06", "summary.C06", _exceed("C06", "C05")),
    Fixture("le.D02", "summary.D02", _exceed("D02", "D01")),
    Fixture("le.F02", "summary.F02", _exceed("F02", "F01")),
    Fixture("sum.C01", "summary.C01", _bump("C01", 1)),
    # 封面
    Fixture("cover.period", "cover.period", _set("cover", "period", "2024")),
    Fixture("cover.township", "cover.township_code", _set("cover", "township_code", "419901999")),
    Fixture("cover.phone", "cover.phone", _set("cover", "phone", "12345")),
    Fixture("cover.fill_date", "cover.fill_date", _set("cover", "fill_date", date(2024, 12, 1))),
    # 名册
    Fixture("roster.empty", "roster", _no_roster),
    Fixture("roster.uscc", "roster.0.uscc", _bad_uscc),
    Fixture("roster.duplicate", "roster.1.uscc", _dup_uscc),
    Fixture("roster.female", "roster.0.female_employees", _row_over("female_employees", "A08")),
    Fixture("roster.migrant", "roster.0.migrant_employees", _row_over("migrant_employees", "A09")),
    Fixture("roster.members", "roster.0.members", _row_over("members", "A10")),
    Fixture("roster.union_year", "roster.{union}.union_year", _union_year_missing),
    Fixture("roster.dues", "roster.{payer}.dues_amount", _dues_missing),
    # 表间
    Fixture("xt.A03", "summary.A03", _bump("A03", -1)),
    Fixture("xt.A07", "summary.A07", _bump("A07", 1)),
    Fixture("xt.A08", "summary.A08", _bump("A08", -1)),
    Fixture("xt.A09", "summary.A09", _bump("A09", -1)),
    Fixture("xt.A10", "summary.A10", _bump("A10", 1)),
    Fixture("xt.F01", "summary.F01", _bump("F01", 1)),
    Fixture("xt.F03", "summary.F03", _bump("F03", 1)),
    Fixture("xt.D03", "summary.D03", _bump("D03", 1)),
    Fixture("xt.D04", "summary.D04", _bump("D04", 1)),
    # 台账
    Fixture("ledger.id_number", "ledger.0.id_number", _bad_id),
    Fixture("ledger.aid_date", "ledger.2.aid_date", _ledger(2, "aid_date", date(2024, 6, 1))),
    Fixture("ledger.duplicate", "ledger.1.id_number", _dup_aid),
    Fixture("cover.forced", "cover.note", _set("cover", "note", "强制上报：仍有 1 个乡镇的报表存在未解决的审核错误")),
    # 帮扶汇总 (a return reported upward) beside a ledger: a zero row changes no total
    Fixture("aid.with_ledger", "aid", _set_aid([{"hardship_type": "因病", "aid_method": "生活救助", "cases": 0, "amount": 0}])),
)


def expected_field(fixture: Fixture, values: dict) -> str:
    """Resolve placeholders: the first organised unit / the first dues payer in the roster."""
    roster = base_values()["roster"]
    union = next(i for i, r in enumerate(roster) if r["has_union"] == "是")
    payer = next(i for i, r in enumerate(roster) if r["pays_dues"] == "是")
    return fixture.field.format(union=union, payer=payer)
