"""Benchmark: how long does the 刷新汇总 button take, against just reading the store?

    .venv/bin/python benchmarks/bench_refresh.py [--townships 40 400] [--repeat 7] [--roster-rows 20]

For each county size a store is built synthetically in a temporary folder: a county config
with that many townships, and for this period and the previous one a sample return per
township (``nianbao.workbooks.sample``) parsed by ``nianbao.schemas.parse.build_return``, checked by the rules
and recorded with ``Store.record`` — no xlsx files, which for 400 townships would take minutes
to write. One township in twenty has not reported this period. The inbox is empty, so the
refresh reads the store and does not validate anything first.

Printed, as medians over ``--repeat`` runs:

  (a) ``store.load_inputs(period)``: reading what consolidation needs, the floor;
  (b) ``nianbao.plugin.refresh`` of an empty xlwings JSON book (the engine of xlwings Server/Lite),
      until its actions are produced; and inside it
  (c) ``consolidate_period`` (load_inputs + consolidation + the run record),
  (d) ``master_sheets`` and (e) ``write_sheets`` (the xlwings calls that record actions).

The target is (b) under 0.5 s for 40 townships. The JSON engine is an xlwings PRO part: this
development script sets ``XLWINGS_LICENSE_KEY=noncommercial`` for its own process, as the tests do.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")  # before xlwings is imported

import xlwings as xw  # noqa: E402

from nianbao.pipeline import consolidate_period  # noqa: E402
from nianbao.settings import Settings  # noqa: E402
from nianbao.store import Store, open_store  # noqa: E402
from nianbao.plugin.refresh import refresh  # noqa: E402
from nianbao.plugin.xlwriter import write_sheets  # noqa: E402
from nianbao.schemas.county import Township, load_county  # noqa: E402
from nianbao.schemas.findings import Report  # noqa: E402
from nianbao.schemas.parse import build_return  # noqa: E402
from nianbao.schemas.rules import RuleContext, run_rules  # noqa: E402
from nianbao.workbooks.master_layout import master_sheets  # noqa: E402
from nianbao.workbooks.sample import sample_return  # noqa: E402

PERIODS = {"2024": date(2025, 1, 15), "2025": date(2026, 1, 15)}
PERIOD = "2025"
NOW = datetime(2026, 2, 1, 9, 30)
EMPTY_BOOK = {
    "client": "Microsoft Office Scripts",
    "version": xw.__version__,
    "book": {"name": "汇总.xlsx", "active_sheet_index": 0, "selection": "A1"},
    "names": [],
    "sheets": [{"name": "Sheet1", "values": [[]], "pictures": [], "tables": []}],
}


def write_county(folder: Path, townships: int) -> Path:
    """A county config with ``townships`` townships and both periods."""
    lines = ['county_code = "419901"', 'county_name = "基准县"', ""]
    for i in range(townships):
        lines += ["[[townships]]", f'code = "419901{100 + i:03d}"', f'name = "第{i + 1:03d}乡镇"', ""]
    for period, due in PERIODS.items():
        lines += ["[[periods]]", f'period = "{period}"', f"due = {due.isoformat()}", ""]
    path = folder / "county.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def fill_store(store: Store, config: Path, roster_rows: int) -> int:
    """Record a sample return per township and period (one in twenty missing this period)."""
    county = load_county(config)
    recorded = 0
    for period, due in PERIODS.items():
        ctx = RuleContext(period=period, county=county, today=due)
        for n, town in enumerate(county.townships):
            if period == PERIOD and n % 20 == 19:
                continue
            recorded += record_sample(store, town, period, ctx, roster_rows, due - timedelta(days=1 + n % 9))
    return recorded


def record_sample(store: Store, town: Township, period: str, ctx: RuleContext, roster_rows: int, received: date) -> int:
    raw = sample_return(town, period, seed=int(town.code) + int(period[:4]), roster_rows=roster_rows, ledger_rows=5)
    ret, cell_findings = build_return(raw["cover"], raw["summary"], raw["roster"], raw["ledger"])
    name = f"{town.name}{period}年报.xlsx"
    report = Report(file=name, township=town.code, period=period, findings=[*cell_findings, *run_rules(ret, ctx)])
    store.record(
        report, ret,
        sha256=hashlib.sha256(f"{town.code}/{period}".encode()).hexdigest(),
        size=50_000, file_name=name, source=f"inbox/{period}/{name}",
        received_at=datetime.combine(received, datetime.min.time()) + timedelta(hours=10),
    )
    return 1


def median_s(func: Callable[[], object], repeat: int) -> float:
    func()  # warm up: imports, SQLAlchemy statement caches, first-use costs
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def empty_book() -> xw.Book:
    return xw.Book(json=copy.deepcopy(EMPTY_BOOK))


def bench(townships: int, repeat: int, roster_rows: int, tmp: Path) -> dict[str, float]:
    folder = tmp / f"county{townships}"
    folder.mkdir()
    (folder / "inbox").mkdir()
    settings = Settings(
        config=str(write_county(folder, townships)), inbox=str(folder / "inbox"),
        db=f"sqlite:///{folder / 'nianbao.db'}", out=str(folder / "out"), outbox=str(folder / "outbox"),
    )
    store = open_store(settings.db)
    county = load_county(settings.config)
    start = time.perf_counter()
    recorded = fill_store(store, Path(settings.config), roster_rows)
    print(f"{townships} townships: {recorded} returns recorded in {time.perf_counter() - start:.1f} s")
    try:
        c = consolidate_period(store, county, PERIOD, NOW)
        sheets = master_sheets(c)
        result = refresh(empty_book(), settings, now=NOW)
        assert not result.consolidated_first and len(result.missing) == townships // 20
        times = {
            "load_inputs": median_s(lambda: store.load_inputs(PERIOD), repeat),
            "refresh": median_s(lambda: refresh(empty_book(), settings, now=NOW), repeat),
            "consolidate_period": median_s(lambda: consolidate_period(store, county, PERIOD, NOW), repeat),
            "master_sheets": median_s(lambda: master_sheets(c), repeat),
            "write_sheets": median_s(lambda: write_sheets(empty_book(), sheets), repeat),
        }
        book = empty_book()
        refresh(book, settings, now=NOW)
        times["actions"] = len(book.json()["actions"])
        return times
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--townships", type=int, nargs="+", default=[40, 400])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--roster-rows", type=int, default=20)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nianbao-bench-refresh-") as tmp:
        results = {n: bench(n, args.repeat, args.roster_rows, Path(tmp)) for n in args.townships}
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print(f"{'townships':>9}{'(a) load_inputs':>17}{'(b) refresh':>13}{'b/a':>7}{'(c) consolidate':>17}"
          f"{'(d) sheets':>12}{'(e) write':>11}{'actions':>9}")
    for n, t in results.items():
        print(f"{n:>9}{ms(t['load_inputs']):>17}{ms(t['refresh']):>13}{t['refresh'] / t['load_inputs']:6.1f}x"
              f"{ms(t['consolidate_period']):>17}{ms(t['master_sheets']):>12}{ms(t['write_sheets']):>11}{t['actions']:>9.0f}")
    smallest = min(results)
    verdict = "met" if results[smallest]["refresh"] < 0.5 else "MISSED"
    print(f"target: refresh for {smallest} townships under 500 ms: {verdict} ({ms(results[smallest]['refresh'])})")
    if len(results) > 1:
        largest = max(results)
        grow = results[largest]["refresh"] / results[smallest]["refresh"]
        print(f"{largest} vs {smallest} townships: refresh takes {grow:.1f}x as long for {largest / smallest:.0f}x the townships")
    return 0


if __name__ == "__main__":
    sys.exit(main())
