"""Test utilities for the xlwings writer: JSON-backed books, payloads from files, action replay.

Excel cannot run here, so the writer is driven against xlwings' JSON book engine ("remote",
the engine behind xlwings Server and Lite): ``xw.Book(json=payload)`` builds a book from a
snapshot of the workbook, reads come from the snapshot, and every write is recorded as an
action in ``book.json()`` instead of being applied. The engine is an xlwings PRO part, so the
``json_book`` fixture sets ``XLWINGS_LICENSE_KEY=noncommercial`` for the test only.

The payload ``xw.Book(json=...)`` expects (xlwings/pro/_xlremote.py; the client side is
xlwings/js/xlwings.ts, whose runPython builds it)::

    {"client": "Microsoft Office Scripts", "version": xlwings.__version__,  # must match
     "book": {"name": "汇总.xlsx", "active_sheet_index": 0, "selection": "A1"},
     "names": [{"name": "NB_STATUS", "sheet_index": 2, "address": "A13",   # no "$"
                "scope_sheet_name": None, "scope_sheet_index": None, "book_scope": True}],
     "sheets": [{"name": "汇总", "values": [[...], ...],  # from A1; "" for blank cells,
                 "pictures": [], "tables": []}]}          # dates as ISO "…T09:30:00.000Z"

``book.json()`` is ``{"actions": [...]}``; each action is ``{"func", "args", "values",
"sheet_position", "start_row", "start_column", "row_count", "column_count"}`` with 0-based
positions: ``setValues`` (values: 2D, None sent as "", datetimes as "YYYY-MM-DD HH:MM:SS"),
``rangeClearContents`` / ``rangeClear``, ``setNumberFormat`` (args [format]),
``setColumnWidth`` (args [points]), ``setRangeColor`` (args ["#RRGGBB" or None]),
``setFontProperty`` (args [attribute, value]), ``setWrapText``, ``setRowHeight``,
``addSheet`` (args [index, name], no sheet_position), ``namesAdd`` (args [name, refers_to]),
``setNameRefersTo`` (args [name, book_scope, scope_sheet_index, refers_to]),
``freezePaneAtRange`` (args [cell]).

:func:`replay` applies the value actions to the payload the way Excel would, so a test can
compare the refreshed book with a file written by the nightly publish cell by cell.
"""

from __future__ import annotations

import copy
import math
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openpyxl import load_workbook

from nianbao.workbooks.layout import Ref, a1

# The consolidation factory lives with the master workbook tests; load it by path so both test
# folders share one factory without a package (tests/ has no __init__.py).
_spec = importlib.util.spec_from_file_location(
    "master_consolidation_factory", Path(__file__).resolve().parents[1] / "workbooks" / "conftest.py"
)
factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factory)
make = factory.make  # the fixtures, for tests in this folder
consolidation = factory.consolidation


@pytest.fixture
def xl() -> SimpleNamespace:
    """The utilities below, for tests (``from conftest import`` is not reliable: every test
    folder has a module named conftest)."""
    return SimpleNamespace(
        actions=actions, assert_same_cells=assert_same_cells, book_payload=book_payload,
        empty_payload=empty_payload, payload_from_xlsx=payload_from_xlsx, replay=replay,
        wired=wired, xlsx_grids=xlsx_grids,
    )


@pytest.fixture
def json_book(monkeypatch):
    """``make(payload) -> xlwings.Book`` on the JSON engine, licensed for this test only."""
    monkeypatch.setenv("XLWINGS_LICENSE_KEY", "noncommercial")
    import xlwings as xw

    if "remote" not in [e.name for e in xw.engines]:
        # xlwings was imported before the key was set, so its PRO engines were skipped.
        from xlwings.pro import _xlremote

        xw.engines.add(xw.main.Engine(impl=_xlremote.engine))

    def make(payload: dict) -> xw.Book:
        # The engine keeps and mutates the payload (added sheets and names go into it); a copy
        # leaves the caller's payload as the "before" state for replay().
        return xw.Book(json=copy.deepcopy(payload))

    return make


def _version() -> str:
    import xlwings

    return xlwings.__version__


def book_payload(sheets: Mapping[str, list[list[Any]]], names: Mapping[str, str] | None = None) -> dict:
    """A JSON-book payload from sheet values (from A1) and defined names (name -> reference)."""
    order = list(sheets)
    api_names = []
    for name, target in (names or {}).items():
        ref = Ref.parse(target)
        api_names.append({
            "name": name, "sheet_index": order.index(ref.sheet), "address": a1(ref.row, ref.col),
            "scope_sheet_name": None, "scope_sheet_index": None, "book_scope": True,
        })
    return {
        "client": "Microsoft Office Scripts",
        "version": _version(),
        "book": {"name": "清河县_2025_汇总.xlsx", "active_sheet_index": 0, "selection": "A1"},
        "names": api_names,
        "sheets": [
            {"name": name, "values": [[_to_client(v) for v in row] for row in values] or [[]], "pictures": [], "tables": []}
            for name, values in sheets.items()
        ],
    }


def empty_payload() -> dict:
    """What a new blank workbook sends: one empty Sheet1."""
    return book_payload({"Sheet1": [[]]})


def _to_client(value: Any) -> Any:
    """A cell value as the Office Scripts client sends it (blank "", dates as ISO UTC strings)."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return value


def xlsx_grids(path: Path) -> dict[str, list[list[Any]]]:
    """Every worksheet's values from A1 to its last used cell (None for blank)."""
    wb = load_workbook(path, data_only=True)
    return {
        ws.title: [[c.value for c in row] for row in ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column)]
        for ws in wb.worksheets
    }


def payload_from_xlsx(path: Path) -> dict:
    """The payload Excel would send for a master workbook file (e.g. the nightly publish)."""
    wb = load_workbook(path, data_only=True)
    names = {name: dn.attr_text for name, dn in wb.defined_names.items()}
    return book_payload(xlsx_grids(path), names)


# --- replay --------------------------------------------------------------------------------------


@dataclass
class Replay:
    """The book after the actions: sheet order, cells by (row, col) 1-based, defined names."""

    sheets: list[str]
    cells: dict[str, dict[tuple[int, int], Any]]
    names: dict[str, str] = field(default_factory=dict)

    def grid(self, sheet: str) -> list[list[Any]]:
        """Values from A1 to the last non-blank cell, None for blank, as the engine wrote them."""
        cells = {k: v for k, v in self.cells[sheet].items() if v not in ("", None)}
        if not cells:
            return []
        rows, cols = max(r for r, _ in cells), max(c for _, c in cells)
        return [[cells.get((r, c)) for c in range(1, cols + 1)] for r in range(1, rows + 1)]


def replay(payload: dict, actions: Iterable[dict]) -> Replay:
    sheets = [s["name"] for s in payload["sheets"]]
    cells = {
        s["name"]: {(r, c): v for r, row in enumerate(s["values"], 1) for c, v in enumerate(row, 1) if v != ""}
        for s in payload["sheets"]
    }
    names = {n["name"]: Ref.cell(sheets[n["sheet_index"]], *_rc(n["address"])).text for n in payload["names"]}
    for action in actions:
        func, args = action["func"], action["args"]
        if func == "addSheet":
            sheets.insert(args[0], args[1])
            cells[args[1]] = {}
            continue
        if func == "namesAdd":
            names[args[0]] = args[1].lstrip("=")
            continue
        if func == "setNameRefersTo":
            names[args[0]] = args[3].lstrip("=")
            continue
        if action["sheet_position"] is None:
            continue
        grid = cells[sheets[action["sheet_position"]]]
        if func in ("sheetClearContents", "sheetClear"):
            grid.clear()
        if action["start_row"] is None:  # other sheet-level actions (frozen pane, ...)
            continue
        top, left = action["start_row"] + 1, action["start_column"] + 1
        if func == "setValues":
            for r, row in enumerate(action["values"]):
                for c, value in enumerate(row):
                    grid[(top + r, left + c)] = value
        elif func in ("rangeClearContents", "rangeClear"):
            bottom, right = top + action["row_count"] - 1, left + action["column_count"] - 1
            for key in [k for k in grid if top <= k[0] <= bottom and left <= k[1] <= right]:
                del grid[key]
    return Replay(sheets, cells, names)


def _rc(address: str) -> tuple[int, int]:
    ref = Ref.parse(f"X!{address}")
    return ref.row, ref.col


def wire(value: Any) -> Any:
    """A Python value as the JSON engine writes it (so a file's values compare with actions)."""
    from xlwings.pro._xlremote import Engine

    value = Engine.prepare_xl_data_element(value, {})
    return None if value == "" else value


def wired(grid: list[list[Any]]) -> list[list[Any]]:
    """A file's grid as the engine would write it, trailing blank rows and columns trimmed."""
    rows = [[wire(v) for v in row] for row in grid]
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    width = max((max((i + 1 for i, v in enumerate(row) if v is not None), default=0) for row in rows), default=0)
    return [row[:width] + [None] * (width - len(row[:width])) for row in rows]


def assert_same_cells(sheet: str, got: list[list[Any]], expected: list[list[Any]]) -> None:
    """Cell by cell; floats equal to 14 significant digits (openpyxl's file round trip can
    change the 17th, and Excel keeps 15 anyway). Names the first differing cell."""
    height, width = max(len(got), len(expected)), max((len(r) for r in (*got, *expected)), default=0)
    for r in range(height):
        for c in range(width):
            a = got[r][c] if r < len(got) and c < len(got[r]) else None
            b = expected[r][c] if r < len(expected) and c < len(expected[r]) else None
            same = math.isclose(a, b, rel_tol=1e-14) if isinstance(a, float) and isinstance(b, (int, float)) else a == b
            assert same, f"「{sheet}」{a1(r + 1, c + 1)}: {a!r} != {b!r}"


def actions(book, func: str | None = None, sheet: str | None = None) -> list[dict]:
    """The book's actions, optionally only one kind and only on one sheet (by final position)."""
    order = [s.name for s in book.sheets]
    out = book.json()["actions"]
    if func:
        out = [a for a in out if a["func"] == func]
    if sheet:
        out = [a for a in out if a["sheet_position"] == order.index(sheet)]
    return out
