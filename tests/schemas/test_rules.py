"""Every finding code has a fixture that triggers exactly that code at the right location."""

import pytest

from rule_fixtures import COUNTY, FIXTURES, PERIOD, base_values, expected_field
from nianbao.schemas.coerce import FormulaWithoutValue
from nianbao.schemas.findings import Severity
from nianbao.schemas.parse import build_return
from nianbao.schemas.rules import RULE_BY_CODE, RuleContext, run_rules


def findings_of(values: dict):
    summary = {k: FormulaWithoutValue(v) if isinstance(v, str) and v.startswith("=") else v for k, v in values["summary"].items()}
    ret, cell_findings = build_return(values["cover"], summary, values["roster"], values["ledger"], values.get("aid", []))
    return [*cell_findings, *run_rules(ret, RuleContext(period=PERIOD, county=COUNTY))]


def test_the_sample_return_is_valid_under_every_rule():
    assert findings_of(base_values()) == []


def test_every_rule_code_has_a_fixture():
    assert set(RULE_BY_CODE) <= {f.code for f in FIXTURES}


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.code)
def test_fixture_triggers_exactly_its_code(fixture):
    values = fixture.values()
    findings = findings_of(values)
    assert {f.code for f in findings} == {fixture.code, *fixture.also}
    hit = [f for f in findings if f.code == fixture.code]
    assert len(hit) == 1
    assert hit[0].field == expected_field(fixture, values)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in hit[0].message)
    if fixture.code in RULE_BY_CODE:
        assert hit[0].severity == RULE_BY_CODE[fixture.code].severity


def test_ledger_findings_never_carry_a_full_id_number():
    fixture = next(f for f in FIXTURES if f.code == "ledger.id_number")
    values = fixture.values()
    bad_id = values["ledger"][0]["id_number"]
    (finding,) = [f for f in findings_of(values) if f.code == "ledger.id_number"]
    assert bad_id not in finding.message and bad_id not in (finding.value or "")
    assert finding.value == bad_id[:4] + "*" * 10 + bad_id[-4:]


def test_warnings_do_not_block():
    fixture = next(f for f in FIXTURES if f.code == "xt.F03")
    (finding,) = findings_of(fixture.values())
    assert finding.severity is Severity.WARNING


def test_an_id_number_that_trips_stdnum_is_a_finding_not_a_crash():
    """python-stdnum raises KeyError (not ValidationError) for region 358422."""
    fixture = next(f for f in FIXTURES if f.code == "ledger.id_number")
    values = fixture.values()
    values["ledger"][0]["id_number"] = "358422199001018674"
    (finding,) = [f for f in findings_of(values) if f.code == "ledger.id_number"]
    assert finding.field == "ledger.0.id_number" and "地区码不对" in finding.message
    assert finding.value == "3584**********8674"


@pytest.mark.parametrize("off, flagged", [("0.01", False), ("0.02", True)])
def test_aid_amount_allows_the_rounding_of_each_lower_return(off, flagged):
    """A county's 帮扶资金 sums its townships' rounded figures; 帮扶汇总 keeps exact 元."""
    from decimal import Decimal

    values = base_values()
    ledger, values["ledger"] = values["ledger"], []
    values["aid"] = [{"hardship_type": "因病", "aid_method": "生活救助", "cases": len(ledger), "amount": sum(r["amount"] for r in ledger)}]
    for i, row in enumerate(values["roster"]):
        row["township"] = ("甲镇", "乙镇", "丙镇")[i % 3]  # three lower returns: ±0.015 万元
    exact = (Decimal(str(values["aid"][0]["amount"])) / 10000).quantize(Decimal("0.01"))
    values["summary"]["D04"] = float(exact + Decimal(off))
    codes = {f.code for f in findings_of(values)}
    assert ("xt.D04" in codes) is flagged and codes <= {"xt.D04"}


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.code)
def test_fast_code_checks_find_what_stdnum_alone_finds(fixture, monkeypatch):
    """The column-wise USCC / ID checks only skip stdnum for codes it accepts: same findings."""
    from stdnum.cn import ric, uscc

    from nianbao.schemas import rules

    values = fixture.values()
    if values["roster"]:
        values["roster"][0]["uscc"] = "91419901MA0000000X"  # invalid check character: one more finding
    fast = findings_of(values)
    monkeypatch.setattr(rules, "uscc_valid", lambda codes: [uscc.is_valid(c) for c in codes])
    monkeypatch.setattr(rules, "ric_valid", lambda code: False)  # every ID number goes to stdnum
    slow = findings_of(values)
    assert fast == slow
    assert not values["roster"] or any(f.code == "roster.uscc" and f.field == "roster.0.uscc" for f in fast)
