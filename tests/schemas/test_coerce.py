from datetime import date, datetime
from decimal import Decimal

import pytest
from pydantic_core import PydanticCustomError

from nianbao.schemas import coerce


@pytest.mark.parametrize(
    "typed, expected",
    [
        (12, 12),
        (12.0, 12),
        ("12", 12),
        ("１２", 12),
        (" 12 ", 12),
        ("12家", 12),
        ("12 人", 12),
        ("1,626", 1626),
        ("１，６２６", 1626),
        ("0", 0),
    ],
)
def test_count_accepts_what_people_type(typed, expected):
    assert coerce.to_count(typed) == expected


@pytest.mark.parametrize("blank", [None, "", "   ", "\u3000"])
def test_blank_stays_blank_never_zero(blank):
    assert coerce.to_count(blank) is None
    assert coerce.to_money(blank) is None


@pytest.mark.parametrize(
    "typed, code",
    [
        ("十二", "cell.not_number"),
        ("12.5", "cell.not_whole"),
        (-3, "cell.negative"),
        ("5万元", "cell.wrong_unit"),
        (True, "cell.not_number"),
        (coerce.FormulaWithoutValue("=A1+1"), "cell.formula_no_value"),
    ],
)
def test_count_rejects_with_stable_code_and_chinese_message(typed, code):
    with pytest.raises(PydanticCustomError) as exc:
        coerce.to_count(typed)
    assert exc.value.type == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in exc.value.message())


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("7.5万元", Decimal("7.50")),
        ("1,317.31", Decimal("1317.31")),
        (1317.31, Decimal("1317.31")),
        (0.1 + 0.2, Decimal("0.30")),  # float noise is not "more than two decimals"
        ("１２．５", Decimal("12.50")),
    ],
)
def test_money(typed, expected):
    assert coerce.to_money(typed) == expected


def test_money_rejects_three_decimals_and_yuan():
    with pytest.raises(PydanticCustomError) as exc:
        coerce.to_money("1.234")
    assert exc.value.type == "cell.decimals"
    with pytest.raises(PydanticCustomError) as exc:
        coerce.to_money("75000元")
    assert exc.value.type == "cell.wrong_unit"
    assert coerce.to_yuan("75000元") == Decimal("75000.00")


@pytest.mark.parametrize("yes", ["是", "√", "✓", "Y", "yes", " 是 "])
def test_yes(yes):
    assert coerce.to_yes_no(yes) is True


@pytest.mark.parametrize("no", ["否", "×", "N", "no"])
def test_no(no):
    assert coerce.to_yes_no(no) is False


def test_yes_no_rejects_other_text():
    with pytest.raises(PydanticCustomError) as exc:
        coerce.to_yes_no("可能")
    assert exc.value.type == "cell.not_yes_no"


def test_code_normalises_and_refuses_numbers_that_lost_digits():
    assert coerce.to_code(" 9111 0000-6000 3734 1l ") == "91110000600037341L"
    assert coerce.to_code("９１１１") == "9111"
    with pytest.raises(PydanticCustomError) as exc:
        coerce.to_code(4.10102199001011e17)
    assert exc.value.type == "cell.code_as_number"


@pytest.mark.parametrize(
    "typed",
    ["2026-01-15", "2026/1/15", "2026.1.15", "2026年1月15日", "20260115", datetime(2026, 1, 15, 0, 0), date(2026, 1, 15), 46037],
)
def test_dates(typed):
    assert coerce.to_date(typed) == date(2026, 1, 15)


def test_impossible_date():
    with pytest.raises(PydanticCustomError) as exc:
        coerce.to_date("2026-02-30")
    assert exc.value.type == "cell.not_date"


def test_choice():
    one_of = coerce.OneOf(("企业", "机关"))
    assert one_of(" 企业 ") == "企业"
    with pytest.raises(PydanticCustomError) as exc:
        one_of("公司")
    assert exc.value.type == "cell.not_choice"
    assert "企业、机关" in exc.value.message()
