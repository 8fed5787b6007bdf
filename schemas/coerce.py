"""Coercion of what people type into Excel cells into typed values.

Township staff paste "12家", type full-width digits (１２), write "1,317.31", answer "√" for
是, or leave a cell blank. These functions turn such input into int / Decimal / bool / date,
keep a blank as ``None`` (never 0), and otherwise raise ``PydanticCustomError`` whose type is a
stable finding code and whose message is Chinese. They are used as pydantic ``BeforeValidator``s
so the schema carries its own coercion.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from pydantic_core import PydanticCustomError

from nianbao.schemas.indicators import MONEY_UNIT, UNITS


class FormulaWithoutValue(str):
    """Marker the reader puts in a cell that holds a formula but no cached result."""


class ExcelError(str):
    """Marker the reader puts in a cell that shows an Excel error value (``#DIV/0!`` …)."""


EXCEL_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!"})
# No count or amount of one township comes near this; beyond it a value is not a number we do
# arithmetic on (int64 casts, Decimal quantize). The county's sane bounds (``CountyConfig.limits``)
# are far lower and are checked as a rule; this cap only keeps arithmetic safe.
HARD_MAX = Decimal(10) ** 12
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")


_UNIT_SUFFIX = re.compile(
    r"(?P<num>.*?)\s*(?P<unit>" + "|".join(sorted(map(re.escape, (*UNITS, "元")), key=len, reverse=True)) + r")$"
)
# A count typed with any count unit ("12人" in a 个 row) is still a count; money units are not.
COUNT_UNITS = frozenset(UNITS) - {MONEY_UNIT}
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_YES = {"是", "√", "✓", "✔", "y", "yes", "true", "1", "有", "对"}
_NO = {"否", "×", "✗", "✘", "x", "n", "no", "false", "0", "无", "不是"}
_EXCEL_EPOCH = date(1899, 12, 30)


def normalize(value: str) -> str:
    """Full-width to half-width (NFKC), strip, and collapse inner white space."""
    if not unicodedata.is_normalized("NFKC", value):
        value = unicodedata.normalize("NFKC", value)
    return " ".join(value.split())


def is_blank(value: object) -> bool:
    # type() rather than isinstance(): a FormulaWithoutValue is a str subclass and never blank.
    return value is None or (type(value) is str and not value.strip())


def _check_formula(value: object) -> None:
    if isinstance(value, ExcelError):
        raise PydanticCustomError(
            "cell.excel_error",
            "单元格显示错误值 {value}（公式或引用出错），请改正后填写实际数值再报送",
            {"value": str(value), "expected": "实际数值"},
        )
    if isinstance(value, FormulaWithoutValue):
        raise PydanticCustomError(
            "cell.formula_no_value",
            "单元格是公式「{value}」但没有计算结果，请在 Excel 或 WPS 中打开、保存后再报送",
            {"value": str(value), "expected": "数值"},
        )


def _code_in_number(value: object, expected: str) -> PydanticCustomError:
    return PydanticCustomError(
        "cell.code_in_number",
        "填写的「{value}」像是 18 位身份证号或统一社会信用代码，不是数量；应填写{expected}",
        {"value": str(value), "expected": expected},
    )


def _sane(number: Decimal, value: object, expected: str) -> Decimal:
    """``number`` if finite and below :data:`HARD_MAX`, else the finding that says why."""
    if not number.is_finite():
        raise PydanticCustomError("cell.not_number", "「{value}」不是数字，应填写{expected}", {"value": str(value), "expected": expected})
    if abs(number) >= HARD_MAX:
        if 10**16 <= abs(number) < 10**19 and number == number.to_integral_value():
            raise _code_in_number(value, expected)
        raise PydanticCustomError(
            "cell.too_large", "填写了 {value}，数值大得不合常理，应填写{expected}", {"value": str(value), "expected": expected}
        )
    return number


def _to_decimal(value: object, unit: str, expected: str, accepted: frozenset[str]) -> Decimal:
    if isinstance(value, bool):
        raise PydanticCustomError("cell.not_number", "「{value}」不是数字，应填写{expected}", {"value": str(value), "expected": expected})
    if isinstance(value, int):
        return _sane(Decimal(value), value, expected)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise PydanticCustomError("cell.not_number", "「{value}」不是数字，应填写{expected}", {"value": str(value), "expected": expected})
        # Excel keeps 15 significant digits; read the double the way Excel displays it.
        return _sane(Decimal(format(value, ".15g")), value, expected)
    text = normalize(str(value)).replace("，", ",")
    if len(text) > 60:  # no number a person types is this long; keep Decimal off megabyte strings
        raise PydanticCustomError("cell.not_number", "「{value}」不是数字，应填写{expected}", {"value": str(value)[:40] + "…", "expected": expected})
    if _ID_SHAPE.match(text.upper()) or _USCC_SHAPE.match(text.upper()):
        raise _code_in_number(value, expected)
    match = _UNIT_SUFFIX.fullmatch(text)
    if match:
        found_unit = match["unit"]
        if found_unit not in accepted:
            raise PydanticCustomError(
                "cell.wrong_unit",
                "填写的「{value}」单位是「{found}」，本项单位应为「{unit}」",
                {"value": str(value), "found": found_unit, "unit": unit, "expected": f"以{unit}为单位的数字"},
            )
        text = match["num"].strip()
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise PydanticCustomError(
            "cell.not_number", "「{value}」不是数字，应填写{expected}", {"value": str(value), "expected": expected}
        ) from None
    return _sane(number, value, expected)


def to_count(value: object, unit: str = "个") -> int | None:
    """A whole number >= 0, or None for a blank cell."""
    # Fast path for what calamine returns from a number cell (a float) or openpyxl (an int).
    kind = type(value)
    if kind is float and 0 <= value < 1e12 and value.is_integer():
        return int(value)
    if kind is int and 0 <= value < 10**12:
        return value
    if is_blank(value):
        return None
    _check_formula(value)
    expected = "不小于 0 的整数"
    number = _to_decimal(value, unit, expected, COUNT_UNITS)
    if number < 0:
        raise PydanticCustomError("cell.negative", "填写了负数 {value}，应为{expected}", {"value": str(value), "expected": expected})
    if number != number.to_integral_value():
        raise PydanticCustomError("cell.not_whole", "填写了 {value}，应为{expected}", {"value": str(value), "expected": expected})
    return int(number)


def to_money(value: object, unit: str = MONEY_UNIT) -> Decimal | None:
    """An amount >= 0 with at most two decimals, or None for a blank cell."""
    if is_blank(value):
        return None
    _check_formula(value)
    expected = f"不小于 0、最多 2 位小数的金额（{unit}）"
    number = _to_decimal(value, unit, expected, frozenset({unit}))
    if number < 0:
        raise PydanticCustomError("cell.negative", "填写了负数 {value}，应为{expected}", {"value": str(value), "expected": expected})
    if number != number.quantize(Decimal("0.01")):
        raise PydanticCustomError("cell.decimals", "填写了 {value}，{expected}", {"value": str(value), "expected": expected})
    return number.quantize(Decimal("0.01"))


def to_yuan(value: object) -> Decimal | None:
    """An amount in 元 (the hardship ledger), same rules as 万元 amounts."""
    return to_money(value, "元")


def to_yes_no(value: object) -> bool | None:
    if value == "是" or value == "否":  # what the drop-down enters: skip normalising
        return value == "是"
    if is_blank(value):
        return None
    _check_formula(value)
    if isinstance(value, bool):
        return value
    key = normalize(str(value)).lower()
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise PydanticCustomError("cell.not_yes_no", "填写了「{value}」，应填写{expected}", {"value": str(value), "expected": "“是”或“否”"})


def to_text(value: object) -> str | None:
    if is_blank(value):
        return None
    _check_formula(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return normalize(str(value))


def to_code(value: object) -> str | None:
    """A code such as a USCC or an ID number: half-width, upper case, no spaces or dashes.

    A long code that arrives as a number was typed into a non-text cell: Excel has already
    dropped everything past the 15th digit, so it cannot be repaired, only reported.
    """
    if is_blank(value):
        return None
    _check_formula(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = format(value, ".15g")
        if abs(value) >= 1e15:
            raise PydanticCustomError(
                "cell.code_as_number",
                "代码被存成了数字 {value}，第 15 位以后已丢失，应把该列设为文本后重新填写完整的 18 位代码",
                {"value": shown, "expected": "文本格式的 18 位代码"},
            )
        value = shown
    return re.sub(r"[\s\-]", "", normalize(str(value))).upper()


class OneOf:
    """Coerce to one of a fixed list of options (the template offers them as a drop-down)."""

    def __init__(self, options: tuple[str, ...]):
        self.options = options

    def __call__(self, value: object) -> str | None:
        if is_blank(value):
            return None
        _check_formula(value)
        text = normalize(str(value))
        if text not in self.options:
            raise PydanticCustomError(
                "cell.not_choice",
                "填写了「{value}」，应从下拉列表中选择：{expected}",
                {"value": str(value), "expected": "、".join(self.options)},
            )
        return text


def to_date(value: object) -> date | None:
    if is_blank(value):
        return None
    _check_formula(value)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value < 2958466:
        return _EXCEL_EPOCH + timedelta(days=int(value))
    text = normalize(str(value))
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?", text)
    if not match:
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise PydanticCustomError(
        "cell.not_date", "「{value}」不是有效日期，应填写{expected}", {"value": str(value), "expected": "如 2026-01-15 的日期"}
    )


class Matching:
    """Coerce to text that matches ``pattern`` (e.g. a 报告期 ``2025`` / ``2025H1``), upper case.

    A number typed into the cell (2025.0) is read as its digits; anything else that does not
    match (``2025年``, ``2025-12``) is a finding at the cell, never an exception later.
    """

    def __init__(self, pattern: str, expected: str):
        self.pattern = re.compile(pattern)
        self.expected = expected

    def __call__(self, value: object) -> str | None:
        if is_blank(value):
            return None
        _check_formula(value)
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            value = int(value)
        text = re.sub(r"\s", "", normalize(str(value))).upper()
        if not self.pattern.fullmatch(text):
            raise PydanticCustomError(
                "cell.bad_format", "填写了「{value}」，应填写{expected}", {"value": str(value), "expected": self.expected}
            )
        return text
