"""The column-wise coercion of the detail tables gives what pydantic gives row by row: the same
models (values, types, fields set) and the same findings, in the same order."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nianbao.schemas import parse
from nianbao.schemas.coerce import EXCEL_ERRORS, ExcelError, FormulaWithoutValue
from nianbao.schemas.models import AidRow, LedgerRow, RosterRow, field_specs

MODELS = (RosterRow, LedgerRow, AidRow)


def reference_rows(model, rows, sheet):
    """Every row through pydantic on its own: what ``parse._rows`` did before it went by column."""
    findings = []
    for i, row in enumerate(rows):
        findings.extend(parse._required_blank(model, row, f"{sheet}.{i}"))
    models = [parse._validated_row(model, row, f"{sheet}.{i}", findings) for i, row in enumerate(rows)]
    return models, findings


def typical(spec):
    """What a well-filled cell of this kind holds as calamine returns it."""
    by_kind = {
        "count": st.integers(0, 10**6).map(float) | st.integers(0, 10**6),
        "money": st.decimals(0, 10**6, places=2).map(float),
        "yuan": st.decimals(0, 10**6, places=2).map(float),
        "yesno": st.sampled_from(["是", "否"]),
        "text": st.sampled_from(["城关镇", "河南某某有限公司", "张三", " 李 四 ", "ABC"]),
        "code": st.from_regex(r"[0-9A-Z]{18}", fullmatch=True) | st.from_regex(r"[0-9a-z]{17}[xX]", fullmatch=True),
        "date": st.dates(date(2000, 1, 1), date(2030, 12, 31)) | st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)),
        "choice": st.sampled_from(spec.choices or ("其他",)),
    }
    return by_kind[spec.kind]


EDGES = [-1, 0, 10**12 - 1, 10**12, True, False, -0.0, 1e12, 999999999999.9999, 1e15, 0.005, 1.005, 12.5, 2.0**53, -1.0]
EDGES += [45000.0, 3e6, "", "  ", "\u3000", "１２", "12家", "1,317.31", "√", "×", "是 ", "其 他", "企业", "ｘ", "x", "y", "a-b c", "ab-12", "2025-03-01"]
hostile = st.one_of(
    st.none(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=30),
    st.sampled_from(sorted(EXCEL_ERRORS)).map(ExcelError),
    st.text(max_size=10).map(lambda t: FormulaWithoutValue("=" + t)),
    st.dates(),
    st.datetimes(),
    st.decimals(allow_nan=True),
)


@st.composite
def tables(draw):
    model = draw(st.sampled_from(MODELS))
    specs = field_specs(model)
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        row = {s.name: draw(typical(s)) for s in specs}  # well filled, but for a cell or two
        for name in draw(st.lists(st.sampled_from([s.name for s in specs]), max_size=2)):
            row[name] = draw(st.sampled_from(EDGES) if draw(st.booleans()) else hostile)
        if draw(st.integers(0, 15)) == 0:  # a row missing a field, or with one too many
            row.pop(draw(st.sampled_from([s.name for s in specs])))
        elif draw(st.integers(0, 15)) == 0:
            row["extra"] = 1
        rows.append(row)
    return model, rows


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
@example((RosterRow, [{s.name: None for s in field_specs(RosterRow)}]))
@example((RosterRow, [{**{s.name: None for s in field_specs(RosterRow)}, "employees": -1}]))
@example((LedgerRow, [{**{s.name: None for s in field_specs(LedgerRow)}, "name": "  ", "id_number": "41-01 02"}]))
@example((LedgerRow, [{**{s.name: None for s in field_specs(LedgerRow)}, "amount": 999999999999.9999}]))
def test_column_wise_rows_equal_pydantic_row_by_row(table):
    model, rows = table
    expected_models, expected_findings = reference_rows(model, rows, "roster")
    findings = []
    models = parse._rows(model, rows, "roster", findings)
    assert findings == expected_findings
    assert models == expected_models
    for got, want in zip(models, expected_models):
        assert type(got) is type(want)
        assert got.model_fields_set == want.model_fields_set
        assert got.__pydantic_extra__ == want.__pydantic_extra__ and got.__pydantic_private__ == want.__pydantic_private__
        for name in model.model_fields:  # the same types too: 1 == 1.0 == Decimal(1), True == 1
            a, b = getattr(got, name), getattr(want, name)
            assert type(a) is type(b) and (a == b or a != a) and str(a) == str(b), name
    assert [m.model_dump() for m in models] == [m.model_dump() for m in expected_models]


def test_constructed_rows_behave_like_validated_ones():
    row = {s.name: None for s in field_specs(LedgerRow)} | {"name": "张三", "amount": 1200.5}
    (got,) = parse._rows(LedgerRow, [row], "ledger", [])
    want = LedgerRow.model_validate(row)
    assert got == want and hash(got) == hash(want) and repr(got) == repr(want)
    assert got.model_copy(update={"name": "李四"}) == want.model_copy(update={"name": "李四"})
    assert got.amount == Decimal("1200.50")
