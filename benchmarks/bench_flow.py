"""Benchmark: the nightly flow over N generated returns, against a raw calamine read of them.

    .venv/bin/python benchmarks/bench_flow.py [--n 200 2000] [--roster-rows 100] [--dir DIR]

For each N, in a fresh child process (so peak memory is that run's own): a county config of N
townships and an inbox of N valid returns, then

  * floor      — python-calamine reading every cell of every sheet of the N files;
  * flow       — one Prefect run of the nightly flow (validate, store, consolidate, publish);
                 the temporary Prefect server is started by a warm-up run on an empty inbox
                 first, since a served deployment keeps its server running;
  * work       — the time spent inside the plain functions the tasks call, so
                 orchestration = flow − work;
  * peak RSS   — the child's maximum resident memory (the Prefect server runs in its own
                 process and is not counted).

Generating N files with openpyxl would take longer than everything measured, so ``--bases``
real returns are generated and the rest are copies whose township code and roster USCCs are
rewritten inside the xlsx zip (valid check characters, so every copy is a distinct, valid
return of a distinct township). Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from python_calamine import CalamineWorkbook
from stdnum.cn import ric, uscc

from nianbao.schemas.county import CountyConfig, PeriodConfig, Township
from nianbao.workbooks.sample import make_uscc, write_sample_return

PERIOD = "2025"
COUNTY_CODE = "419901"
USCC_TEXT = re.compile(r"(?<=>)([0-9A-Z]{18})(?=<)")


def township(i: int) -> Township:
    return Township(code=f"{COUNTY_CODE}{i + 1:06d}", name=f"第{i + 1}镇")


def county(n: int) -> CountyConfig:
    return CountyConfig(
        county_code=COUNTY_CODE,
        county_name="基准县",
        townships=[township(i) for i in range(n)],
        periods=[PeriodConfig(period="2024", due="2025-01-15"), PeriodConfig(period=PERIOD, due="2026-01-15")],
    )


def write_config(c: CountyConfig, path: Path) -> Path:
    lines = [f'county_code = "{c.county_code}"', f'county_name = "{c.county_name}"', ""]
    for t in c.townships:
        lines += ["[[townships]]", f'code = "{t.code}"', f'name = "{t.name}"', ""]
    for p in c.periods:
        lines += ["[[periods]]", f'period = "{p.period}"', f"due = {p.due.isoformat()}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _base(args: tuple[Path, int, int]) -> Path:
    path, i, roster_rows = args
    return write_sample_return(path, township(i), PERIOD, seed=i, roster_rows=roster_rows, ledger_rows=20)


def _is_id_number(code: str) -> bool:
    try:
        return ric.is_valid(code)
    except KeyError:  # python-stdnum 2.2 raises this for some region codes
        return False


def _variant(base: Path, base_town: Township, target: Township, out: Path, i: int) -> None:
    """Copy ``base`` as the return of ``target``: new township code, names and unit codes."""
    rng = random.Random(i)

    def new_uscc(match: re.Match) -> str:
        code = match[1]  # an ID number can pass the USCC check by chance: leave the ledger alone
        return make_uscc(rng, "企业", "419901") if uscc.is_valid(code) and not _is_id_number(code) else code

    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".xml") and item.filename.startswith("xl/"):
                # openpyxl writes strings inline in the sheet parts, Excel in sharedStrings.xml
                text = data.decode("utf-8").replace(base_town.code, target.code).replace(base_town.name, target.name)
                text = USCC_TEXT.sub(new_uscc, text)
                data = text.encode("utf-8")
            dst.writestr(item, data)


def build_inbox(root: Path, n: int, bases: int, roster_rows: int) -> Path:
    inbox = root / "inbox"
    base_dir = root.parent / f"bases-{roster_rows}"
    inbox.mkdir(parents=True, exist_ok=True)
    base_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(base_dir / f"base_{i:03d}.xlsx", i, roster_rows) for i in range(min(bases, n))]
    todo = [job for job in jobs if not job[0].exists()]
    if todo:
        with ProcessPoolExecutor() as pool:
            list(pool.map(_base, todo))
    for i in range(n):
        base_path, b, _ = jobs[i % len(jobs)]
        out = inbox / f"{township(i).code}.xlsx"
        if not out.exists():
            _variant(base_path, township(b), township(i), out, i)
    return inbox


def calamine_floor(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        book = CalamineWorkbook.from_path(path)
        for name in book.sheet_names:
            book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        book.close()
    return time.perf_counter() - start


def one(n: int, root: Path, bases: int, roster_rows: int) -> dict:
    """Runs in the child process."""
    from nianbao.flows.nightly import nightly
    from nianbao import pipeline

    root.mkdir(parents=True, exist_ok=True)
    config = write_config(county(n), root / "county.toml")
    inbox = build_inbox(root, n, bases, roster_rows)
    paths = sorted(inbox.iterdir())
    calamine_floor(paths[: min(50, n)])  # warm the page cache
    floor = calamine_floor(paths)

    def run(inbox_dir: Path, db: str):
        return nightly(period=PERIOD, config=str(config), inbox=str(inbox_dir), db=db, out=str(root / "out"), outbox=str(root / "outbox"), batch_size=100)

    (root / "empty").mkdir(exist_ok=True)
    run(root / "empty", f"sqlite:///{root / 'warm.db'}")
    db = root / "bench.db"
    db.unlink(missing_ok=True)
    pipeline.WORK.reset()
    start = time.perf_counter()
    result = run(inbox, f"sqlite:///{db}")
    total = time.perf_counter() - start
    work = pipeline.WORK.seconds
    return {
        "stages_ms": {k: v / n * 1000 for k, v in pipeline.WORK.stages.items()},
        "n": n,
        "accepted": result.accepted,
        "findings": len(result.consolidation.findings),
        "floor_s": floor,
        "flow_s": total,
        "work_s": work,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def memory(n: int, root: Path) -> dict:
    """Runs in a child: the plain pipeline stage by stage, peak RSS after each (no Prefect).

    Shows whether the returns are streamed: the peak after validating and storing all N
    returns should not grow with N; what grows afterwards is the consolidated tables.
    """
    from nianbao import pipeline
    from nianbao.store import open_store
    from nianbao.schemas.county import load_county

    def peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    db = root / "memory.db"
    db.unlink(missing_ok=True)
    county, store = load_county(root / "county.toml"), open_store(f"sqlite:///{db}")
    files = pipeline.extract(str(root / "inbox"))
    out = {"n": n, "start": peak()}
    pipeline.ingest(store, county, files, 100)
    out["ingest"] = peak()
    c = pipeline.consolidate_period(store, county, PERIOD, pipeline.now_local(), files)
    out["consolidate"] = peak()
    pipeline.publish_master(c, root / "memory-master.xlsx")
    out["master"] = peak()
    pipeline.publish_receipts(store, county, root / "memory-outbox", files)
    out["publish"] = peak()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--bases", type=int, default=40)
    parser.add_argument("--roster-rows", type=int, default=100)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="nianbao-flow-bench-"))
    if args.child:
        print(json.dumps(one(args.child, root / f"n{args.child}", args.bases, args.roster_rows)))
        return 0
    if args.memory_child:
        print(json.dumps(memory(args.memory_child, root / f"n{args.memory_child}")))
        return 0

    def child(flag: str, n: int) -> dict:
        cmd = [sys.executable, __file__, flag, str(n), "--dir", str(root), "--bases", str(args.bases), "--roster-rows", str(args.roster_rows)]
        return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])

    rows = [child("--child", n) for n in args.n]
    peaks = [child("--memory-child", n) for n in args.n]
    print(f"{'N':>6} {'accepted':>8} {'findings':>8} {'floor s':>8} {'flow s':>8} {'ms/return':>10} {'flow/floor':>10} {'orchestration':>14} {'peak MB':>8}")
    for r in rows:
        orchestration = (r["flow_s"] - r["work_s"]) / r["flow_s"]
        print(
            f"{r['n']:>6} {r['accepted']:>8} {r['findings']:>8} {r['floor_s']:>8.1f} {r['flow_s']:>8.1f} {r['flow_s'] / r['n'] * 1000:>10.1f}"
            f" {r['flow_s'] / r['floor_s']:>10.2f} {orchestration:>14.1%} {r['peak_mb']:>8.0f}"
        )
    for r in rows:
        stages = "  ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items())
        print(f"N = {r['n']}: ms per return by stage: {stages}; floor {r['floor_s'] / r['n'] * 1000:.1f}")
    for m in peaks:
        print(
            f"N = {m['n']}: peak RSS without Prefect, MB: start {m['start']:.0f}, after validate+store {m['ingest']:.0f},"
            f" after consolidate {m['consolidate']:.0f}, after the master workbook {m['master']:.0f}, after receipts {m['publish']:.0f}"
        )
    print("targets: flow/floor ≤ 3 at N = 2000; orchestration ≤ 20 %; peak memory flat in N beyond the consolidated tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
