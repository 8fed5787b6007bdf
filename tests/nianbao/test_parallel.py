"""Worker processes give the same answers as working here, one by one; a worker that dies costs
only its own item."""

import os
import subprocess
import sys

import pytest
from openpyxl import load_workbook

from nianbao import parallel, pipeline
from nianbao.inbox import list_returns
from nianbao.parallel import Workers
from nianbao.schemas.county import load_county
from nianbao.store import open_store
from nianbao.workbooks.sample import write_sample_return

COUNTY = load_county()


def _square_plus(item: int, context: int) -> tuple[int, int]:
    return item * item + context, os.getpid()


def _dies_on_13(item: int, context: int) -> int:
    if item == 13:
        os._exit(3)  # what a segfault or the kernel's OOM killer looks like from outside
    return item * context


def test_map_runs_in_order_on_other_processes_with_the_context():
    items = list(range(40))
    with Workers(2, context=5, min_parallel=2) as workers:
        out = workers.map(_square_plus, items)
        again = workers.map(_square_plus, items)
        assert workers.started == 1  # one pool for the whole run, not one per batch
    assert [v for v, _ in out] == [i * i + 5 for i in items] == [v for v, _ in again]
    pids = {pid for _, pid in out}
    assert os.getpid() not in pids and len(pids) == 2


def test_small_jobs_and_one_process_run_here():
    here = [(2, os.getpid()), (5, os.getpid()), (10, os.getpid())]
    assert Workers(1, context=1, min_parallel=2).map(_square_plus, [1, 2, 3]) == here
    small = Workers(2, context=1)  # fewer items than a pool is worth
    assert small.map(_square_plus, [1, 2, 3]) == here and small.started == 0


def test_a_worker_that_dies_costs_only_its_item():
    items = list(range(30))
    with Workers(2, context=2, min_parallel=2) as workers:
        out = workers.map(_dies_on_13, items, lost=lambda item, exc: f"lost {item}")
        assert workers.started >= 2  # restarted after the death
        assert workers.map(_dies_on_13, [1, 2, 3, 4]) == [2, 4, 6, 8]  # and usable afterwards
    assert out == [f"lost {i}" if i == 13 else i * 2 for i in items]


def test_without_lost_the_death_is_raised():
    from concurrent.futures.process import BrokenProcessPool

    with Workers(2, context=2, min_parallel=2) as workers, pytest.raises(BrokenProcessPool):
        workers.map(_dies_on_13, list(range(20)))


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("inbox")
    for i, town in enumerate(COUNTY.townships[:6]):
        path = write_sample_return(root / f"{town.code}.xlsx", town, "2025", seed=i, roster_rows=12, ledger_rows=4)
        if i == 1:  # a finding on a cell, so the receipt copies the return and marks it
            wb = load_workbook(path)
            wb["基层工会名册"]["D4"] = "很多"
            wb.save(path)
    (root / "坏文件.xlsx").write_bytes(b"PK\x03\x04 not a zip")
    return list_returns(str(root))


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 2)
    with pipeline.run_workers(COUNTY, 2) as workers:
        yield workers


def test_validate_files_on_workers_equals_one_by_one(inbox, two_workers):
    here = pipeline.validate_files(inbox, COUNTY, set())
    there = pipeline.validate_files(inbox, COUNTY, set(), two_workers)
    assert two_workers.started == 1
    assert [(r.sha256, r.report, r.ret, r.cells) for r in there] == [(r.sha256, r.report, r.ret, r.cells) for r in here]
    assert any(r.report.findings and r.report.readable for r in here) and any(not r.report.readable for r in here)


def test_known_files_are_skipped_before_any_worker_reads_them(inbox, two_workers):
    first = pipeline.validate_files(inbox, COUNTY, set())
    known = {first[0].sha256, first[2].sha256}
    again = pipeline.validate_files(inbox, COUNTY, known, two_workers)
    assert [r.sha256 for r in again] == [r.sha256 for r in first if r.sha256 not in known]


def test_workers_of_another_county_are_refused(inbox):
    with pipeline.run_workers(load_county(), 1) as workers, pytest.raises(ValueError):
        pipeline.validate_files(inbox, COUNTY, set(), workers)


def _receipts(tmp_path, name, inbox, workers=None):
    store = open_store(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
    try:
        pipeline.store_files(store, pipeline.validate_files(inbox, COUNTY, set()))
        paths = pipeline.publish_receipts(store, COUNTY, tmp_path / name, inbox, workers=workers)
        assert store.receipts_due().empty  # every receipt written is marked done
        return paths
    finally:
        store.close()


def test_receipts_written_by_workers_equal_those_written_here(inbox, two_workers, tmp_path):
    here = _receipts(tmp_path, "here", inbox)
    there = _receipts(tmp_path, "there", inbox, two_workers)
    assert [p.name for p in there] == [p.name for p in here] and len(here) == len(inbox)
    for a, b in zip(here, there):
        wa, wb = load_workbook(a), load_workbook(b)
        assert wa.sheetnames == wb.sheetnames
        for ws in wa.worksheets:
            assert list(ws.iter_rows(values_only=True)) == list(wb[ws.title].iter_rows(values_only=True)), (a.name, ws.title)


def _dies_on_the_broken_file(item, ctx):
    if item[0].name == "坏文件.xlsx":
        os._exit(3)
    return ORIGINAL_VALIDATE_ONE(item, ctx)


ORIGINAL_VALIDATE_ONE = pipeline._validate_one


def test_a_file_that_kills_its_worker_is_a_finding_and_the_others_are_read(inbox, two_workers, monkeypatch):
    monkeypatch.setattr(pipeline, "_validate_one", _dies_on_the_broken_file)
    received = pipeline.validate_files(inbox, COUNTY, set(), two_workers)
    by_name = {r.file.name: r for r in received}
    assert set(by_name) == {f.name for f in inbox}
    lost = by_name.pop("坏文件.xlsx")
    assert [f.code for f in lost.report.findings] == ["file.internal"] and lost.ret is None
    assert "坏文件.xlsx" in lost.report.findings[0].message
    assert all(r.ret is not None for r in by_name.values())


def _nested(item: int, context: int) -> tuple[int, set[int]]:
    inner = Workers(2, context=0, min_parallel=2).map(_square_plus, list(range(10)))
    return os.getpid(), {pid for _, pid in inner}


def test_a_worker_never_starts_workers_of_its_own():
    """A script without the main guard re-runs in each worker; at worst it runs there inline."""
    with Workers(2, context=0, min_parallel=2) as workers:
        out = workers.map(_nested, [1, 2, 3, 4])
    assert all(pids == {pid} for pid, pids in out)


def test_what_workers_import_leaves_pandas_and_the_database_out():
    """A worker imports the module of the function it runs: nianbao.filework, kept light so each
    worker process does not carry pandas and SQLAlchemy (half its memory) for nothing (numpy comes
    with openpyxl, which uses it when it is installed)."""
    code = "import sys, nianbao.filework; print(sorted(m for m in ('pandas', 'sqlalchemy', 'prefect') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert pipeline._validate_one.__module__ == pipeline._receipt_with_barrier.__module__ == pipeline.RunContext.__module__ == "nianbao.filework"


class _Big(list):
    """A result that can be watched through a weak reference."""


def _big(item: int, context: int) -> _Big:
    return _Big([item] * 1000)


def test_a_taken_result_is_not_kept_by_whoever_still_holds_the_pending():
    """Prefect keeps a task's inputs: the Pending of a batch must not keep its parsed returns."""
    import gc
    import weakref

    with Workers(2, context=0, min_parallel=2) as workers:
        for pending in (workers.submit(_big, list(range(8))), Workers(1, context=0).submit(_big, [1, 2])):
            out = pending.result()
            watched = weakref.ref(out[0])
            del out
            gc.collect()
            assert watched() is None and repr(pending) == "Pending(taken)"
            with pytest.raises(RuntimeError):
                pending.result()
