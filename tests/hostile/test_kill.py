"""Crash safety: ``nianbao run`` killed with SIGKILL at several moments, then run again, gives
the same master workbook, the same database and every receipt as a run never interrupted.

Moments are observed from outside, as an operator's power cut would find them: while starting,
once the database exists, once submissions are committed, while the master workbook is being
written, once receipts have begun. Whatever moment the kill lands on, the rerun must converge.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import prefect.settings
import pytest
from openpyxl import load_workbook
from prefect.testing.utilities import prefect_test_harness

from nianbao.schemas.county import load_county
from nianbao.workbooks.sample import sample_return, fill_workbook
from nianbao.workbooks.template import build_template

from hostile_support import PERIOD

NIANBAO = str(Path(sys.executable).with_name("nianbao"))


@pytest.fixture(scope="module")
def api_url():
    """One Prefect server for every subprocess run (no temporary server per run)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield prefect.settings.PREFECT_API_URL.value()


@pytest.fixture(scope="module")
def source(county_source, tmp_path_factory) -> Path:
    """The county with valid returns plus a rejected one, an unreadable one and a PDF."""
    root = tmp_path_factory.mktemp("kill-src") / "county"
    shutil.copytree(county_source, root, copy_function=shutil.copy2)
    county = load_county(root / "county.toml")
    for i, town in enumerate(county.townships[3:9], start=3):
        values = sample_return(town, PERIOD, seed=i, roster_rows=6, ledger_rows=3)
        if i == 4:
            values["summary"]["A14"] = "十二"  # rejected, with a marked copy in its receipt
        fill_workbook(build_template(town, PERIOD), values).save(root / "inbox" / f"{town.name}.xlsx")
    (root / "inbox" / "坏文件.xlsx").write_bytes(b"PK\x03\x04 not a zip")
    (root / "inbox" / "扫描件.pdf").write_bytes(b"%PDF-1.4")
    return root


def start(root: Path, api_url: str) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "WARNING"}
    args = [NIANBAO, "run", "--period", PERIOD, "--config", "county.toml", "--inbox", "inbox",
            "--db", f"sqlite:///{root / 'nianbao.db'}", "--out", "out", "--outbox", "outbox"]
    return subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out.decode(errors="replace")


def _submissions(root: Path) -> int:
    try:
        with sqlite3.connect(f"file:{root / 'nianbao.db'}?mode=ro", uri=True, timeout=0.05) as conn:
            return conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
    except sqlite3.Error:
        return 0


MOMENTS = {
    "starting": lambda root, t: t > 1.0,
    "database created": lambda root, t: (root / "nianbao.db").exists(),
    "submissions committed": lambda root, t: _submissions(root) > 0,
    "master being written": lambda root, t: any((root / "out").glob("*")) if (root / "out").exists() else False,
    "receipts begun": lambda root, t: any((root / "outbox").glob("*")) if (root / "outbox").exists() else False,
    "receipts half written": lambda root, t: len(list((root / "outbox").glob("*.xlsx"))) >= 4 if (root / "outbox").exists() else False,
}


def _cells(path: Path, skip_stamp: bool) -> dict:
    wb = load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        if skip_stamp and ws.title == "变动情况":
            continue  # compares with the previous publish: a killed run may have published already
        for row in ws.iter_rows():
            for c in row:
                value = c.value
                if value is None or (skip_stamp and (isinstance(value, datetime) or (isinstance(value, str) and "数据截至" in value))):
                    continue  # the run's own time differs between any two runs
                out[(ws.title, c.coordinate)] = value
    return out


def snapshot(root: Path) -> dict:
    with sqlite3.connect(root / "nianbao.db") as conn:
        subs = sorted(conn.execute(
            "SELECT sha256, file_name, township_code, period, status, error_count, warning_count, findings FROM submissions").fetchall())
        values = sorted(conn.execute(
            "SELECT s.sha256, v.indicator, v.value FROM summary_values v JOIN submissions s ON s.id = v.submission_id").fetchall())
        current = sorted(conn.execute(
            "SELECT c.township_code, c.period, s.sha256 FROM current_returns c JOIN submissions s ON s.id = c.submission_id").fetchall())
        owed = conn.execute("SELECT count(*) FROM receipts_due WHERE done_at IS NULL").fetchone()[0]
        due = conn.execute("SELECT count(*) FROM receipts_due").fetchone()[0]
    master = next((root / "out").glob("*.xlsx"))
    return {
        "db": (subs, values, current, owed, due),
        "master": _cells(master, skip_stamp=True),
        "receipts": {p.name: _cells(p, skip_stamp=False) for p in sorted((root / "outbox").glob("*.xlsx"))},
        "temporary files": sorted(p.name for p in root.rglob(".~*")),
    }


def test_kill_at_any_moment_then_rerun_equals_an_uninterrupted_run(source, api_url, tmp_path):
    reference_root = tmp_path / "reference"
    shutil.copytree(source, reference_root, copy_function=shutil.copy2)
    finish(start(reference_root, api_url))
    reference = snapshot(reference_root)
    assert reference["db"][3] == 0 and len(reference["receipts"]) == 11  # 9 townships, 2 unidentified
    assert reference["temporary files"] == []

    killed = {}
    for moment, reached in MOMENTS.items():
        root = tmp_path / moment.replace(" ", "-")
        shutil.copytree(source, root, copy_function=shutil.copy2)
        proc, began = start(root, api_url), time.monotonic()
        while proc.poll() is None and not reached(root, time.monotonic() - began):
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed[moment] = proc.returncode == -signal.SIGKILL
        finish(start(root, api_url))
        again = snapshot(root)
        for part in reference:
            assert again[part] == reference[part], f"after a kill at “{moment}”: {part} differs"
    print("killed at:", json.dumps(killed, ensure_ascii=False))
    assert sum(killed.values()) >= 4, killed  # most moments were really interrupted
