"""The rows the store keeps of one parsed return, apart from the submission they belong to.

A pure function of the return and where its values were read, so the worker process that read
the file makes them (a third of what storing a return cost the main process) and the main
process only stamps each row with its submission's id (:meth:`nianbao.store.Store.record_many`).
Keys are the store's table names; each row is a dict of that table's columns.
"""

from __future__ import annotations

from typing import Any

from nianbao.grouping import detail_totals
from nianbao.schemas.indicators import INDICATOR_CODES
from nianbao.schemas.models import TownshipReturn
from nianbao.workbooks.layout import CellMap

DetailRows = dict[str, list[dict[str, Any]]]


def detail_rows(ret: TownshipReturn, cells: CellMap | None) -> DetailRows:
    """summary_values, roster_units, roster_details, summary_cells and detail_totals of ``ret``."""
    values = ret.summary.model_dump()
    return {
        "summary_values": [{"indicator": code, "value": values[code]} for code in INDICATOR_CODES if values.get(code) is not None],
        "roster_units": [{"row": i, "uscc": r.uscc, "name": r.name} for i, r in enumerate(ret.roster)],
        "roster_details": [{"row": i, "data": r.model_dump(mode="json")} for i, r in enumerate(ret.roster)],
        "summary_cells": cell_rows(ret, cells),
        "detail_totals": list(detail_totals(ret)),
    }


def cell_rows(ret: TownshipReturn, cells: CellMap | None) -> list[dict[str, Any]]:
    """One row per indicator with a recorded cell or a 情况说明; cells come from the CellMap."""
    notes = ret.notes.model_dump()
    rows = []
    for code in INDICATOR_CODES:
        sheet, cell = cells.locate(f"summary.{code}") if cells is not None else (None, None)
        note = notes.get(code)
        if sheet or note:
            rows.append({"indicator": code, "sheet": sheet, "cell": cell, "note": note})
    return rows
