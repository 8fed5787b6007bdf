"""Benchmark: the store with a long history — 50 000 recorded files — today's code against main's.

    .venv/bin/python benchmarks/bench_store.py [--files 50000] [--repeat 5] [--base main] [--no-postgres]

For each store version (this tree's ``nianbao/store.py``, and ``git show <base>:nianbao/store.py``
loaded as a module) and each backend (a SQLite file; a throwaway PostgreSQL 15 cluster as in
the tests, if its binaries are there) a database is filled with ``--files`` submissions in
bulk (Core executemany: 1 in 100 names no township, the rest spread over 40 townships and
five periods, findings like a real rejected file's), then, as medians over ``--repeat``:

  (a) ``known_hashes()``, the whole history, which every run and refresh read first on main;
  (a') the check a run makes now: for an inbox of 200 files (100 known), ``digest in known``
       with ``store.known()`` (one indexed look-up per file) — on main, ``known_hashes()`` + set;
  (b) ``unidentified(sources)`` for an inbox of 200 files, 5 of them unidentified;
  (c) a run's store stage: ``record_many`` of a batch of 50 new parsed returns
      (150 summary values and 10 roster units each), each batch new;
  (d) ``load_inputs(period)`` for a period with 40 current returns.

Nothing is asserted: the figures and the ratios main/this tree are printed.

``--growth N`` measures instead what a night of N new returns costs as the store fills (SQLite,
this tree only): N returns with 100-row rosters (parsed from generated files, each copy with its
own township code and fresh USCCs) recorded in batches of 100 as the flow does; per return,
CPU ms, wall ms and KiB read+written to disk for the first 2 000 and the last 2 000. Flat is
the target; ``--with-uscc-index`` puts back the roster USCC index migration 0006 dropped.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from nianbao.schemas.findings import Report, error  # noqa: E402
from nianbao.schemas.indicators import INDICATORS  # noqa: E402
from nianbao.schemas.models import Cover, RosterRow, Summary, TownshipReturn  # noqa: E402

PERIODS = ["2021", "2022", "2023", "2024", "2025"]
TOWNS = [f"419901{100 + i:03d}" for i in range(40)]
T0 = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)


def load_base_store(base: str):
    text = subprocess.run(["git", "show", f"{base}:nianbao/store.py"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "store_base.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("store_base", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["store_base"] = module  # its annotations are resolved through sys.modules
    spec.loader.exec_module(module)
    return module


def fill(engine: sa.Engine, n: int) -> list[str]:
    """``n`` submissions in bulk; returns the sources of the unidentified ones."""
    meta = sa.MetaData()
    subs = sa.Table("submissions", meta, autoload_with=engine)
    finding = [error("le.A08", "「主要指标」D12 女职工 400 人大于职工 100 人", field="summary.A08", sheet="主要指标", cell="D12").model_dump(mode="json")]
    rows, unidentified = [], []
    for i in range(n):
        blank = i % 100 == 0
        source = f"/inbox/{i // 1000}/file{i}.xlsx"
        if blank:
            unidentified.append(source)
        rows.append(dict(
            sha256=hashlib.sha256(str(i).encode()).hexdigest(), size=40000 + i, file_name=f"file{i}.xlsx", source=source,
            received_at=datetime(2020, 1, 1) + timedelta(minutes=i), recorded_at=datetime(2026, 1, 1),
            township_code="" if blank else TOWNS[i % 40], township_name="" if blank else "某镇",
            period="" if blank else PERIODS[i % 5], status="unreadable" if blank else "rejected", fill_date=None,
            error_count=1, warning_count=0, findings=finding, ledger_rows=0, ledger_amount=None,
        ))
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(subs.insert(), rows[start:start + 5000])
    return unidentified


def parsed(code: str, k: int) -> TownshipReturn:
    values = {i.code: Decimal("1.00") if i.is_money else 10 + k for i in INDICATORS}
    return TownshipReturn(cover=Cover(township_code=code, township_name="某镇", period="2025", fill_date=date(2026, 1, 4)),
                          summary=Summary(**values), roster=[RosterRow(name=f"单位{j}", uscc=None) for j in range(10)])


def median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(module, url: str, n: int, repeat: int, fresh_db) -> dict[str, float]:
    store = module.open_store(url) if hasattr(module, "open_store") else None
    unidentified = fill(store.engine, n)
    inbox = [f"/inbox/new/{i}.xlsx" for i in range(195)] + unidentified[:5]
    out = {"known_hashes": median(store.known_hashes, repeat)}
    assert len(store.known_hashes()) == n
    # What a run asks first: is each of a 200-file inbox's hashes known? (half of them are)
    asked = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(0, n, n // 100)][:100]
    asked += [hashlib.sha256(f"new{i}".encode()).hexdigest() for i in range(100)]

    def inbox_check():
        known = store.known() if hasattr(store, "known") else store.known_hashes()
        assert sum(d in known for d in asked) == 100

    out["inbox_check"] = median(inbox_check, repeat)
    out["unidentified"] = median(lambda: store.unidentified(inbox), repeat)
    batch_no = iter(range(10**6))

    def store_stage():
        b = next(batch_no)
        items = []
        for k in range(50):
            code = TOWNS[k % 40]
            sha = hashlib.sha256(f"new-{b}-{k}".encode()).hexdigest()
            items.append((Report(file=f"{sha[:8]}.xlsx", township=code, period="2025"), parsed(code, k),
                          dict(sha256=sha, size=1, file_name=f"{sha[:8]}.xlsx", source=f"/inbox/new/{sha[:8]}.xlsx",
                               received_at=T0 + timedelta(minutes=b * 50 + k))))
        store.record_many(items)

    out["store_stage"] = median(store_stage, repeat)
    out["load_inputs"] = median(lambda: store.load_inputs("2025", inbox), repeat)
    store.close()
    return out


def _disk_bytes() -> int:
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(io["read_bytes"]) + int(io["write_bytes"])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def growth(n: int, with_index: bool) -> None:
    """Per-return store cost at the start and the end of recording ``n`` returns."""
    import random

    from nianbao.store import open_store
    from nianbao.validate import check_file
    from nianbao.workbooks.sample import make_uscc, write_sample_return
    from nianbao.schemas.county import Township

    tmp = Path(tempfile.mkdtemp(prefix="bench-store-growth-"))
    bases = [write_sample_return(tmp / f"base{i}.xlsx", Township(code=f"419901{i + 1:06d}", name=f"第{i + 1}镇"), "2025",
                                 seed=i, roster_rows=100, ledger_rows=20) for i in range(8)]
    checked = [check_file(p) for p in bases]
    store = open_store(f"sqlite:///{tmp / 'growth.db'}")
    if with_index:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX ix_roster_units_uscc ON roster_units (uscc)")
    rng = random.Random(1)
    marks = []
    for start in range(0, n, 100):
        items = []
        for i in range(start, min(n, start + 100)):
            c, code = checked[i % len(checked)], f"419901{i + 1:06d}"
            roster = [r.model_copy(update={"uscc": make_uscc(rng, "企业", "419901")}) for r in c.ret.roster]
            ret = c.ret.model_copy(update={"cover": c.ret.cover.model_copy(update={"township_code": code}), "roster": roster})
            items.append((c.report.model_copy(update={"township": code}), ret,
                          dict(sha256=hashlib.sha256(code.encode()).hexdigest(), size=1, file_name=f"{code}.xlsx",
                               source=f"/inbox/{code}.xlsx", received_at=T0 + timedelta(seconds=i), cells=c.cells)))
        cpu, wall, disk = _cpu(), time.perf_counter(), _disk_bytes()
        store.record_many(items)
        marks.append((start + len(items), _cpu() - cpu, time.perf_counter() - wall, _disk_bytes() - disk))
    store.close()
    size = (tmp / "growth.db").stat().st_size
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{n} returns of 100 roster rows recorded in batches of 100 (SQLite{', with the USCC index' if with_index else ''}); per return:")
    print(f"{'returns':<16}{'CPU ms':>8}{'wall ms':>9}{'disk KiB':>10}")
    for lo, hi in ((0, min(2000, n)), (max(0, n - 2000), n)):
        sel = [m for m in marks if lo < m[0] <= hi]
        count = hi - lo
        print(f"{f'{lo}–{hi}':<16}{sum(m[1] for m in sel) / count * 1000:>8.2f}{sum(m[2] for m in sel) / count * 1000:>9.2f}"
              f"{sum(m[3] for m in sel) / count / 1024:>10.0f}")
    print(f"database {size / 1e6:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--growth", type=int, metavar="N", help="per-return store cost while N returns are recorded")
    parser.add_argument("--with-uscc-index", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--base", default="main")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if args.growth:
        growth(args.growth, args.with_uscc_index)
        return

    import nianbao.store as current

    versions = {args.base: load_base_store(args.base), "this tree": current}
    backends = {"sqlite": None}
    cluster = None
    if not args.no_postgres:
        import pgserver

        try:
            cluster = pgserver.start()
            backends["postgresql"] = cluster
        except pgserver.Unavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    results: dict[tuple[str, str], dict[str, float]] = {}
    try:
        for backend, server in backends.items():
            for label, module in versions.items():
                if server is None:
                    url = f"sqlite:///{tmp / (label.replace(' ', '_') + '.db')}"
                else:
                    name = f"bench_{label.replace(' ', '_')}"
                    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
                        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                    admin.dispose()
                    url = server.url.rsplit("/", 1)[0] + f"/{name}"
                results[(backend, label)] = measure(module, url, args.files, args.repeat, None)
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"\n{args.files} recorded files; medians of {args.repeat}; seconds")
    print(f"{'backend':<11}{'measure':<15}{args.base:>10}{'this tree':>11}{'ratio':>8}")
    for backend in backends:
        for key in ("known_hashes", "inbox_check", "unidentified", "store_stage", "load_inputs"):
            before, after = results[(backend, args.base)][key], results[(backend, "this tree")][key]
            print(f"{backend:<11}{key:<15}{before:>10.4f}{after:>11.4f}{before / after:>7.1f}x")


if __name__ == "__main__":
    main()
