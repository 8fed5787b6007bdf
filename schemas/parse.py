"""Raw cell values -> a ``TownshipReturn`` plus the findings about cells that could not be used.

Cell-level findings (blank where required, not a number, wrong unit …) are produced here, from
the raw values; a field that fails is reported once and then left blank in the model, so the
rules (``nianbao.schemas.rules``) can still check everything else without repeating the complaint.

The detail tables (roster, ledger, 帮扶汇总) are coerced a column at a time (:func:`_rows`): the
field's own coercion function (the model's ``BeforeValidator``) is applied to the column, with
inline shortcuts for what calamine returns from a well-typed cell, and a row whose cells all
coerce is made into its model directly. A row with a cell the coercion refuses goes through
pydantic exactly as before, so its findings are pydantic's. Per-cell validator calls from
pydantic were a quarter of ``check_file``; ``tests/schemas/test_parse.py`` checks with hypothesis
that both paths give the same models and findings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from nianbao.schemas import coerce
from nianbao.schemas.coerce import is_blank, normalize
from nianbao.schemas.findings import Finding, error
from nianbao.schemas.models import AidRow, Cover, FieldSpec, LedgerRow, Notes, RosterRow, Summary, TownshipReturn, field_specs
from nianbao.schemas.privacy import mask_value

Raw = Mapping[str, Any]


def _labels(model: type[BaseModel]) -> dict[str, str]:
    return {s.name: s.label for s in field_specs(model)}


@cache
def _required(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    return tuple(spec for spec in field_specs(model) if spec.required)


def _required_blank(model: type[BaseModel], data: Raw, prefix: str) -> list[Finding]:
    return [
        error(
            "required",
            "未填写，本项必填（没有发生请填 0）" if spec.kind in ("count", "money", "yuan") else "未填写，本项必填",
            field=f"{prefix}.{spec.name}",
            label=spec.label,
            expected="必填",
        )
        for spec in _required(model)
        if is_blank(data.get(spec.name))
    ]


def _cell_finding(model: type[BaseModel], prefix: str, err: Mapping[str, Any]) -> Finding:
    name = str(err["loc"][0])
    code = err["type"] if err["type"].startswith("cell.") else "cell.invalid"
    raw = "" if err.get("input") is None else str(err["input"])
    message = err["msg"]
    shown = mask_value(prefix, name, raw)
    if shown != raw and raw:
        message = message.replace(raw, shown)
    return error(
        code,
        message,
        field=f"{prefix}.{name}",
        label=_labels(model).get(name, name),
        value=shown,
        expected=(err.get("ctx") or {}).get("expected"),
    )


def _one(model: type[BaseModel], data: Raw, prefix: str, findings: list[Finding]) -> Any:
    findings.extend(_required_blank(model, data, prefix))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        bad = set()
        for err in exc.errors():
            bad.add(err["loc"][0])
            findings.append(_cell_finding(model, prefix, err))
        return model.model_validate({k: v for k, v in data.items() if k not in bad})


def _blank_rows(model: type[BaseModel], columns: Mapping[str, list]) -> set[int]:
    """Rows with a blank required field, found column by column (the usual answer: none)."""
    out: set[int] = set()
    for spec in _required(model):
        column = columns[spec.name]
        if None in column:
            out.update(i for i, v in enumerate(column) if v is None)
        out.update(i for i, v in enumerate(column) if type(v) is str and not v.strip())
    return out


_SLOW = object()  # a cell the coercion refused: its row goes through pydantic


def _refuser(func: Callable[[Any], Any], refused: list) -> Callable[[Any], Any]:
    """``func`` for one cell, giving :data:`_SLOW` (noted in ``refused``) where it refuses it."""

    def cell(value: Any) -> Any:
        try:
            return func(value)
        except (ValueError, AssertionError):  # what pydantic turns into a finding
            refused.append(value)
            return _SLOW

    return cell


def _column_coercer(func: Callable[[Any], Any]) -> Callable[[list], tuple[list, bool]]:
    """A function coercing a whole column with ``func`` (a field's ``BeforeValidator``), giving
    the values and whether any cell was refused (then :data:`_SLOW` in its place). Each
    shortcut returns what ``func`` returns for such a value; anything else is ``func``'s."""
    if func is coerce.to_count:
        big = 10**12

        def column(values: list) -> tuple[list, bool]:
            refused: list = []
            cell = _refuser(func, refused)
            out = [
                v if type(v) is int and 0 <= v < big
                else int(v) if type(v) is float and 0.0 <= v < 1e12 and v.is_integer()
                else None if v is None
                else cell(v)
                for v in values
            ]  # fmt: skip
            return out, bool(refused)

    elif func is coerce.to_yes_no:

        def column(values: list) -> tuple[list, bool]:
            refused: list = []
            cell = _refuser(func, refused)
            out = [True if v == "是" else False if v == "否" else None if v is None else cell(v) for v in values]
            return out, bool(refused)

    elif func is coerce.to_text:

        def column(values: list) -> tuple[list, bool]:
            refused: list = []
            cell = _refuser(func, refused)
            out = [normalize(v) if type(v) is str and v and not v.isspace() else None if v is None else cell(v) for v in values]
            return out, bool(refused)

    elif func is coerce.to_code:

        def column(values: list) -> tuple[list, bool]:
            refused: list = []
            cell = _refuser(func, refused)
            out = [v.upper() if type(v) is str and v.isascii() and v.isalnum() else None if v is None else cell(v) for v in values]
            return out, bool(refused)

    elif func is coerce.to_date:

        def column(values: list) -> tuple[list, bool]:
            refused: list = []
            cell = _refuser(func, refused)
            out = [v.date() if type(v) is datetime else v if type(v) is date else None if v is None else cell(v) for v in values]
            return out, bool(refused)

    elif func in (coerce.to_money, coerce.to_yuan):
        cent, hard_max = Decimal("0.01"), coerce.HARD_MAX

        def column(values: list) -> tuple[list, bool]:
            refused: list = []
            cell = _refuser(func, refused)

            def amount(v: float) -> Any:  # to_money's steps for a float it accepts
                if 0.0 <= v < 1e12:
                    number = Decimal(format(v, ".15g"))
                    rounded = number.quantize(cent)
                    if number < hard_max and number == rounded:
                        return rounded
                return cell(v)

            out = [amount(v) if type(v) is float else None if v is None else cell(v) for v in values]
            return out, bool(refused)

    elif isinstance(func, coerce.OneOf) and all(o and normalize(o) == o for o in func.options):
        options = frozenset(func.options)

        def column(values: list) -> tuple[list, bool]:
            refused: list = []
            cell = _refuser(func, refused)
            out = [v if type(v) is str and v in options else None if v is None else cell(v) for v in values]
            return out, bool(refused)

    else:

        def column(values: list) -> tuple[list, bool]:
            refused: list = []
            cell = _refuser(func, refused)
            return [None if v is None else cell(v) for v in values], bool(refused)

    return column


@cache
def _coercers(model: type[BaseModel]) -> tuple[tuple[str, Callable[[list], tuple[list, bool]]], ...]:
    """(field, column coercer) for each field of a detail-table model, in field order."""
    out = []
    for name, info in model.model_fields.items():
        funcs = [getattr(m, "func", None) for m in info.metadata]
        funcs = [f for f in funcs if f is not None]
        if len(funcs) != 1:
            raise TypeError(f"{model.__name__}.{name}: expected exactly one BeforeValidator")
        out.append((name, _column_coercer(funcs[0])))
    return tuple(out)


_new, _set = object.__new__, object.__setattr__


def _instance(model: type[BaseModel], values: dict[str, Any]) -> Any:
    """The model instance pydantic's validation builds from already coerced ``values`` (every
    field present), as ``model_construct`` builds it, without its per-field Python loop. The
    detail-table models are plain: frozen, extra forbidden, no private attributes, no
    post-init hook (:func:`_plain` checks, once per model)."""
    obj = _new(model)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


@cache
def _plain(model: type[BaseModel]) -> bool:
    return (
        model.model_config.get("extra") == "forbid"
        and not model.__private_attributes__
        and model.__pydantic_post_init__ is None
        and not model.__pydantic_root_model__
    )


def _validated_row(model: type[BaseModel], row: Raw, prefix: str, findings: list[Finding]) -> Any:
    """One row through pydantic: its findings, and the model with the refused fields blank."""
    bad = set()
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        for err in exc.errors():
            bad.add(err["loc"][0])
            findings.append(_cell_finding(model, prefix, err))
    return model.model_validate({k: v for k, v in row.items() if k not in bad})


def _rows(model: type[BaseModel], rows: Sequence[Raw], sheet: str, findings: list[Finding]) -> list[Any]:
    """Coerce the table a column at a time; only rows with a refused cell take pydantic's path."""
    coercers = _coercers(model)
    raw = {name: [row.get(name) for row in rows] for name, _ in coercers}
    for i in sorted(_blank_rows(model, raw)):
        findings.extend(_required_blank(model, rows[i], f"{sheet}.{i}"))
    names = tuple(raw)
    keys = set(names)
    slow = {i for i, row in enumerate(rows) if row.keys() != keys}  # a field missing or extra
    columns = []
    for name, coerce_column in coercers:
        column, refused = coerce_column(raw[name])
        if refused:
            slow.update(i for i, v in enumerate(column) if v is _SLOW)
        columns.append(column)
    plain = _plain(model)
    out = []
    for i, values in enumerate(zip(*columns)):
        if i in slow or not plain:
            out.append(_validated_row(model, rows[i], f"{sheet}.{i}", findings))
        else:
            out.append(_instance(model, dict(zip(names, values))))
    return out


def build_return(
    cover: Raw, summary: Raw, roster: Sequence[Raw], ledger: Sequence[Raw], aid: Sequence[Raw] = (), notes: Raw | None = None
) -> tuple[TownshipReturn, list[Finding]]:
    findings: list[Finding] = []
    parts = dict(
        cover=_one(Cover, cover, "cover", findings),
        summary=_one(Summary, summary, "summary", findings),
        roster=_rows(RosterRow, roster, "roster", findings),
        ledger=_rows(LedgerRow, ledger, "ledger", findings),
        aid=_rows(AidRow, aid, "aid", findings),
        notes=_one(Notes, notes or {}, "notes", findings),
    )
    # Every part is a validated instance (or a list of them): validating them again in
    # TownshipReturn would only check their types.
    return TownshipReturn.model_construct(**parts), findings
