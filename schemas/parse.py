"""Raw cell values -> a ``TownshipReturn`` plus the findings about cells that could not be used.

Cell-level findings (blank where required, not a number, wrong unit …) are produced here, from
the raw values; a field that fails is reported once and then left blank in the model, so the
rules (``nianbao.schemas.rules``) can still check everything else without repeating the complaint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from nianbao.schemas.coerce import is_blank
from nianbao.schemas.findings import Finding, error
from nianbao.schemas.models import AidRow, Cover, FieldSpec, LedgerRow, Notes, RosterRow, Summary, TownshipReturn, field_specs
from nianbao.schemas.privacy import mask_value

Raw = Mapping[str, Any]


def _labels(model: type[BaseModel]) -> dict[str, str]:
    return {s.name: s.label for s in field_specs(model)}


@cache
def _required(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    return tuple(spec for spec in field_specs(model) if spec.required)


@cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter:
    return TypeAdapter(list[model])


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


def _blank_rows(model: type[BaseModel], rows: Sequence[Raw]) -> set[int]:
    """Rows with a blank required field, found column by column (the usual answer: none)."""
    out: set[int] = set()
    for spec in _required(model):
        column = [row.get(spec.name) for row in rows]
        if None in column:
            out.update(i for i, v in enumerate(column) if v is None)
        out.update(i for i, v in enumerate(column) if type(v) is str and not v.strip())
    return out


def _rows(model: type[BaseModel], rows: Sequence[Raw], sheet: str, findings: list[Finding]) -> list[Any]:
    """Validate all rows in one pydantic call; only rows with a problem take the slow path."""
    for i in sorted(_blank_rows(model, rows)):
        findings.extend(_required_blank(model, rows[i], f"{sheet}.{i}"))
    try:
        return _list_adapter(model).validate_python(rows)
    except ValidationError as exc:
        bad_rows = {err["loc"][0] for err in exc.errors()}
    out = []
    for i, row in enumerate(rows):
        if i in bad_rows:
            bad = set()
            try:
                model.model_validate(row)
            except ValidationError as row_exc:
                for err in row_exc.errors():
                    bad.add(err["loc"][0])
                    findings.append(_cell_finding(model, f"{sheet}.{i}", err))
            out.append(model.model_validate({k: v for k, v in row.items() if k not in bad}))
        else:
            out.append(model.model_validate(row))
    return out


def build_return(
    cover: Raw, summary: Raw, roster: Sequence[Raw], ledger: Sequence[Raw], aid: Sequence[Raw] = (), notes: Raw | None = None
) -> tuple[TownshipReturn, list[Finding]]:
    findings: list[Finding] = []
    ret = TownshipReturn(
        cover=_one(Cover, cover, "cover", findings),
        summary=_one(Summary, summary, "summary", findings),
        roster=_rows(RosterRow, roster, "roster", findings),
        ledger=_rows(LedgerRow, ledger, "ledger", findings),
        aid=_rows(AidRow, aid, "aid", findings),
        notes=_one(Notes, notes or {}, "notes", findings),
    )
    return ret, findings
