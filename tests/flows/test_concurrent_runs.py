"""Two ``nianbao run`` processes at once on a fresh database, on both backends: on the same
inbox, and on the two halves of one inbox. Both end cleanly (the second waits for the first
and says so), no file is recorded twice or lost, and the master workbook equals a single run's.

Each process is a real ``nianbao run`` (its own Prefect temporary server, its own PREFECT_HOME).
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from nianbao.demo import build_demo
from nianbao.pipeline import run_once
from nianbao.settings import Settings
from nianbao.store import open_store
from nianbao.workbooks.master_layout import STAMP_PREFIX

PERIOD = "2025"


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo"), roster_rows=6, ledger_rows=3).config_path.parent


@pytest.fixture(scope="module")
def single_run_master(county, tmp_path_factory):
    """The master workbook of one run over the whole inbox on its own database."""
    root = tmp_path_factory.mktemp("single")
    settings = Settings(config=str(county / "county.toml"), inbox=str(county / "inbox"), db=f"sqlite:///{root / 'db.sqlite'}",
                        out=str(root / "out"), outbox=str(root / "outbox"))
    return sheet_values(run_once(settings, PERIOD).master)


def sheet_values(path: Path) -> dict[str, list[tuple]]:
    """Every sheet's cell values, with the 数据截至 stamp (the run's own time) blanked.

    变动情况 is left out like the stamp: it compares with the previous publish, so the second of
    two runs says "nothing changed" where a single run says "first publish"."""
    wb = load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        if ws.title == "变动情况":
            continue
        out[ws.title] = [
            tuple("<stamp>" if isinstance(v, str) and v.startswith(STAMP_PREFIX) else v for v in row)
            for row in ws.iter_rows(values_only=True)
        ]
    return out


def nianbao_run(inbox: Path, db: str, root: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_HOME": str(root / f"prefect-{name}"), "NIANBAO_LOCK_WAIT": "600",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}
    exe = Path(os.sys.executable).parent / "nianbao"
    args = [str(exe), "run", "--period", PERIOD, "--config", str(root / "county" / "county.toml"), "--inbox", str(inbox),
            "--db", db, "--out", str(root / "out"), "--outbox", str(root / "outbox")]
    return subprocess.Popen(args, env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def inbox_files(inbox: Path) -> list[Path]:
    return sorted(p for p in inbox.rglob("*.xlsx"))


@pytest.mark.parametrize("split", ["same inbox", "two halves"])
def test_two_runs_at_once_end_cleanly_with_every_file_once(county, single_run_master, db_url, tmp_path, split):
    root = tmp_path
    shutil.copytree(county, root / "county", copy_function=shutil.copy2)
    inbox = root / "county" / "inbox"
    files = inbox_files(inbox)
    if split == "same inbox":
        inboxes = [inbox, inbox]
    else:  # every other file into half a/ or b/ (the single run reads the whole inbox, any depth)
        for i, path in enumerate(files):
            target = inbox / "ab"[i % 2] / path.relative_to(inbox)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
        files = inbox_files(inbox)
        inboxes = [inbox / "a", inbox / "b"]

    runs = [nianbao_run(box, db_url, root, name) for box, name in zip(inboxes, "12")]
    outputs = [run.communicate(timeout=600)[0] for run in runs]

    for run, output in zip(runs, outputs):
        assert run.returncode == 0, output
    assert sum("等待其结束" in o for o in outputs) <= 1  # the second may have waited, and then said so
    store = open_store(db_url)
    try:
        subs = store.submissions(PERIOD)
        recorded = store.known_hashes()
        all_subs = sum(len(store.submissions(p)) for p in ("2024", "2025"))
    finally:
        store.close()
    hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert hashes <= recorded  # no file lost
    assert all_subs == len(files)  # no file recorded twice (every demo file names its township and period)
    assert not subs.duplicated(["township_code", "sha256"]).any()
    masters = list((root / "out").glob("*.xlsx"))
    assert len(masters) == 1
    assert sheet_values(masters[0]) == single_run_master
