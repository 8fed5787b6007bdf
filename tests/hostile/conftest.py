"""A small county on disk for the hostile-input tests: county config, inbox of valid returns,
and helpers that read every output (master workbook, receipts, database) back as text."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from openpyxl import load_workbook

from nianbao.schemas.county import DEMO_CONFIG, load_county
from nianbao.settings import Settings
from nianbao.workbooks.sample import write_sample_return

PERIOD = "2025"
GOOD = 3  # valid returns in the inbox


@pytest.fixture(scope="session")
def county_source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile-src")
    shutil.copy(DEMO_CONFIG, root / "county.toml")
    county = load_county(root / "county.toml")
    for i, town in enumerate(county.townships[:GOOD]):
        write_sample_return(root / "inbox" / f"{town.name}{PERIOD}年报.xlsx", town, PERIOD, seed=i, roster_rows=6, ledger_rows=3)
    return root


@pytest.fixture
def root(county_source, tmp_path) -> Path:
    target = tmp_path / "county"
    shutil.copytree(county_source, target, copy_function=shutil.copy2)
    return target


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
