"""Helpers of the hostile-input tests (tests/hostile): a county's settings, and every output
(master workbook, receipts, database) read back as text. Fixtures live in hostile/conftest.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openpyxl import load_workbook

from nianbao.settings import Settings

PERIOD = "2025"
GOOD = 3  # valid returns in the inbox


def settings_for(root: Path) -> Settings:
    return Settings(
        config=str(root / "county.toml"),
        inbox=str(root / "inbox"),
        db=f"sqlite:///{root / 'nianbao.db'}",
        out=str(root / "out"),
        outbox=str(root / "outbox"),
        batch_size=4,
    )


def workbook_cells(path: Path):
    """(sheet, coordinate, value, data_type, comment text) of every non-empty cell of a file."""
    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None or c.comment is not None:
                    yield ws.title, c.coordinate, c.value, c.data_type, c.comment.text if c.comment else None


def all_output_texts(root: Path) -> list[tuple[str, str]]:
    """(where, text) for every text in every output: workbooks' cells and comments and sheet
    titles, file names in out/ and outbox/, and every value of every database table."""
    found: list[tuple[str, str]] = []
    for folder in ("out", "outbox"):
        for path in sorted((root / folder).glob("*.xlsx")):
            found.append((f"{folder}/", path.name))
            for sheet, coord, value, _, comment in workbook_cells(path):
                found.append((f"{path.name}!{sheet}!{coord}", str(value)))
                if comment:
                    found.append((f"{path.name}!{sheet}!{coord} comment", comment))
                found.append((f"{path.name} sheet title", sheet))
    with sqlite3.connect(root / "nianbao.db") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                found += [(f"db:{table}", str(v)) for v in row if v is not None]
    return found


def formula_cells(root: Path) -> list[str]:
    """Cells of any output workbook that hold a formula or text a spreadsheet would run."""
    from nianbao.workbooks.safe_text import is_formula_like

    bad = []
    for folder in ("out", "outbox"):
        for path in sorted((root / folder).glob("*.xlsx")):
            for sheet, coord, value, data_type, _ in workbook_cells(path):
                if data_type == "f" or is_formula_like(value):
                    bad.append(f"{path.name}!{sheet}!{coord}: {value!r}")
    return bad
