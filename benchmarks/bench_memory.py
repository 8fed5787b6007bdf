"""Memory of the main process through consolidate and publish, on an existing database.

    .venv/bin/python benchmarks/bench_memory.py --db COPY.db --config county.toml [--period 2025] [--out DIR]

Runs, step by step in this one process, what ``nianbao run`` does after the returns are
stored: load the consolidation's inputs, consolidate, compare with the last publish, write
the master workbook, record the publish, trace one indicator (``nianbao trace``). Prints, per
step, the resident memory (RSS) after it and its peak during it (sampled every 10 ms), and
the deep size of the biggest frames. The peak of this process is what the whole run's main
process reaches at that point; workers are measured by ``bench_speed.py``.

Give it a COPY of a database (e.g. of a 10 000-return ``bench_speed.py --big`` run): it
records a consolidation run and a publish in it. Figures only, never assertions.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * PAGE


class Sampler:
    """Peak RSS of this process while a step runs (a thread reading /proc every 10 ms)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            self._stop.wait(0.01)

    def __enter__(self) -> "Sampler":
        self.peak = rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def mb(n: float) -> str:
    return f"{n / 2**20:8.0f}"


def frame_mb(frame: object) -> str:
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return f"{frame.memory_usage(deep=True).sum() / 2**20:.0f} MB ({len(frame)} rows)"
    return "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="a COPY of a run's database (it is written to)")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--period", default="2025")
    parser.add_argument("--out", type=Path, help="where the master workbook goes (default: a temporary folder)")
    parser.add_argument("--frames", action="store_true", help="also print the deep size of the input and output frames (slow)")
    args = parser.parse_args(argv)

    start_rss = rss()
    rows: list[tuple[str, float, int, int]] = []

    def step(name: str, fn: Callable[[], object]) -> object:
        gc.collect()
        wall = time.perf_counter()
        with Sampler() as s:
            value = fn()
        rows.append((name, time.perf_counter() - wall, s.peak, rss()))
        return value

    from nianbao import pipeline
    from nianbao.consolidate import consolidate
    from nianbao.lineage import trace_lines
    from nianbao.schemas.county import load_county
    from nianbao.store import open_store

    county = step("import, load county", lambda: load_county(args.config))
    store = open_store(f"sqlite:///{args.db}")
    as_of = pipeline.now_local()
    inputs = step("load_inputs", lambda: store.load_inputs(args.period))
    frames = {}
    if args.frames:
        frames = {f"inputs.{k}": frame_mb(getattr(inputs, k)) for k in ("current", "previous", "submissions", "findings", "units", "cells", "groups")}
    c = step("consolidate", lambda: consolidate(county, inputs, as_of))
    del inputs
    step("(inputs freed)", lambda: (gc.collect(), pipeline.give_back_memory()))
    c = step("with_changes (snapshot)", lambda: pipeline.with_changes(store, c))
    out = args.out or Path(tempfile.mkdtemp(prefix="nianbao-mem-"))
    step("write master workbook", lambda: pipeline.publish_master(c, out / "master.xlsx"))
    step("record_publish", lambda: pipeline.record_publish(store, c))
    step("county_findings (receipts)", lambda: pipeline.county_findings(c))
    lines = step("trace A01", lambda: trace_lines(c, "A01"))
    if args.frames:
        frames.update({f"c.{k}": frame_mb(getattr(c, k)) for k in ("by_township", "status", "findings", "sources", "groups")})
    store.close()

    print(f"database {args.db} ({args.db.stat().st_size / 2**20:.0f} MB), {len(c.status)} townships, trace: {len(lines)} lines")
    print(f"{'step':<30}{'s':>7}{'peak MB':>9}{'after MB':>9}")
    print(f"{'(start)':<30}{'':>7}{mb(start_rss)}{mb(start_rss)}")
    for name, secs, peak, after in rows:
        print(f"{name:<30}{secs:7.1f}{mb(peak)} {mb(after)}")
    print(f"peak of the process: {max(r[2] for r in rows) / 2**20:.0f} MB")
    for name, size in frames.items():
        print(f"  {name:<22}{size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
