"""A small county on disk for the hostile-input tests: county config and an inbox of valid
returns (helpers in tests/hostile_support.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hostile_support import GOOD, PERIOD
from nianbao.schemas.county import DEMO_CONFIG, load_county
from nianbao.workbooks.sample import write_sample_return


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
