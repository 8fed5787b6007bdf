"""Benchmark for the speed targets: reading floors, check_file, the flow and the plain pipeline.

    .venv/bin/python benchmarks/bench_speed.py [--n 200 2000] [--big] [--dir DIR] [--skip-read]

Prints, in one run on this machine (figures, never assertions; the machine may be shared, so
compare the ratios within one run):

* per return, on the same files (100-row rosters, the flow's inbox of the smallest N):
  python-calamine reading every cell (the floor), fastexcel loading every sheet to Arrow
  (if installed: ``pip install -e '.[bench]'``), a pandas + openpyxl script that checks far
  less (what an analyst would write), and ``check_file`` (the ``nianbao validate`` path);
* for each N (200 and 2 000; 10 000 with ``--big``), each in a fresh child process: the
  Prefect flow (``nightly``) and the plain pipeline (``pipeline.run_once``), end to end with
  store, master workbook and receipts: seconds, ms per return and per stage, cores used
  (CPU seconds of the whole process tree / wall seconds) overall and over the validate stage,
  peak RSS of the whole process tree (this process, its workers and Prefect's server, sampled
  every 0.1 s), and Prefect's share (wall time outside the plain functions);
* start-to-exit time of ``nianbao validate FILE`` and of the Excel button's import.

The returns are bench_flow.py's: generated bases and copies with rewritten codes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_flow import PERIOD, build_inbox, county, write_config  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- the process tree ------------------------------------------------------------------------


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _stat(pid: int) -> tuple[float, int]:
    """(CPU seconds including waited-for children, resident bytes) of one process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0, 0
    cpu = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
    return cpu, int(fields[21]) * PAGE


def tree_cpu() -> float:
    return sum(_stat(pid)[0] for pid in _tree(os.getpid()))


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (a worker's copy of the modules) counted once overall."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakRSS:
    """Samples the memory of this process and all its descendants: summed RSS and summed PSS."""

    def __init__(self, every: float = 0.2, root: int | None = None):
        self.every, self.peak, self.peak_pss, self._stop = every, 0, 0, threading.Event()
        self.root = os.getpid() if root is None else root
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.root_peak = self.other_peak = self.other_pss = 0  # the root alone; the largest other process
        self.at_peak: tuple[int, int, int, str] = (0, 0, 0, "")
        while not self._stop.is_set():
            pids = _tree(self.root)
            rss = {pid: _stat(pid)[1] for pid in pids}
            pss = {pid: _pss(pid) for pid in pids}
            if sum(rss.values()) > self.peak:  # what made the peak: the root, the others, the stage running
                self.at_peak = (rss.get(self.root, 0), sum(rss.values()) - rss.get(self.root, 0), len(rss) - 1, "/".join(RUNNING))
            self.peak = max(self.peak, sum(rss.values()))
            self.peak_pss = max(self.peak_pss, sum(pss.values()))
            self.root_peak = max(self.root_peak, rss.get(self.root, 0))
            self.other_peak = max([self.other_peak, *(v for pid, v in rss.items() if pid != self.root)])
            self.other_pss = max([self.other_pss, *(v for pid, v in pss.items() if pid != self.root)])
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


RUNNING: list[str] = []  # the stages under way (Stages), for PeakRSS to say when the peak came


class Stages:
    """Wall and tree-CPU seconds spent inside the plain pipeline functions, by stage, and the
    span of the ingest phase (first file read to last batch stored) with the cores it used.

    The baseline read a batch, then stored it, then wrote the master workbook, then the
    receipts. Now the workers read the next batch while this process stores one, and write
    the receipts while it writes the master workbook: "validate" is then the time spent
    starting a batch and waiting for it, "publish" the master workbook and receipts together
    ("master" is part of it). Workers' CPU counts in whichever stage was running meanwhile.
    """

    NAMES = {
        "extract": "extract",
        "validate_files": "validate",
        "start_validation": "validate",
        "store_files": "store",
        "consolidate_period": "consolidate",
        "publish_master": "master",
        "publish_receipts": "receipts",
        "publish": "publish",
    }
    INGEST = {"validate", "store"}
    WAITS = {"_validate_one": "validate", "_receipt_with_barrier": "receipts"}

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.ingest: list[tuple[float, float]] = []  # (wall, tree CPU) at each ingest stage's start and end
        self.top = 0.0  # wall seconds inside the outermost timed calls: the plain functions' work
        self._depth = 0

    def install(self, module: object) -> None:
        for func, stage in self.NAMES.items():
            if hasattr(module, func):
                setattr(module, func, self._wrap(getattr(module, func), stage))
        try:
            from nianbao.parallel import Pending
        except ImportError:  # the baseline had no workers
            return
        result = Pending.result
        waits = self.WAITS

        def timed_result(pending):
            stage = waits.get(getattr(pending._fn, "__name__", ""), "wait")
            return self._wrap(lambda: result(pending), stage)()

        Pending.result = timed_result

    def _wrap(self, fn: Callable, stage: str) -> Callable:
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), tree_cpu()
            self._depth += 1
            RUNNING.append(stage)
            try:
                return fn(*args, **kwargs)
            finally:
                RUNNING.pop()
                self._depth -= 1
                end_wall, end_cpu = time.perf_counter(), tree_cpu()
                if self._depth == 0:
                    self.top += end_wall - wall
                self.wall[stage] = self.wall.get(stage, 0.0) + end_wall - wall
                self.cpu[stage] = self.cpu.get(stage, 0.0) + end_cpu - cpu
                if stage in self.INGEST:
                    self.ingest += [(wall, cpu), (end_wall, end_cpu)]

        return timed

    def ingest_cores(self) -> float:
        if not self.ingest:
            return float("nan")
        (w0, c0), (w1, c1) = min(self.ingest), max(self.ingest)
        return (c1 - c0) / (w1 - w0) if w1 > w0 else float("nan")


# --- one end-to-end run, in a child ------------------------------------------------------------


def child(kind: str, n: int, root: Path) -> dict:
    from nianbao import pipeline

    base = root / f"n{n}"
    config = write_config(county(n), base / "county.toml")
    inbox = build_inbox(base, n, 40, 100)
    out_dir = base / f"run-{kind}"
    if out_dir.exists():
        subprocess.run(["rm", "-rf", str(out_dir)], check=True)
    out_dir.mkdir(parents=True)
    settings = dict(config=str(config), inbox=str(inbox), db=f"sqlite:///{out_dir / 'bench.db'}", out=str(out_dir / "out"), outbox=str(out_dir / "outbox"), batch_size=100)
    stages = Stages()
    result: dict = {"kind": kind, "n": n}
    if kind == "flow":
        from nianbao.flows.nightly import nightly

        (out_dir / "empty").mkdir()
        start = time.perf_counter()
        nightly(period=PERIOD, **{**settings, "inbox": str(out_dir / "empty"), "db": f"sqlite:///{out_dir / 'warm.db'}"})
        result["warmup_s"] = time.perf_counter() - start
        stages.install(pipeline)
        run = lambda: nightly(period=PERIOD, **settings)  # noqa: E731 (workers: the default, one per core)
    else:
        from nianbao.settings import Settings

        stages.install(pipeline)
        run = lambda: pipeline.run_once(Settings(**settings), PERIOD)  # noqa: E731
    cpu0 = tree_cpu()
    with PeakRSS() as peak:
        start = time.perf_counter()
        res = run()
        wall = time.perf_counter() - start
    result.update(
        wall_s=wall,
        cores=(tree_cpu() - cpu0) / wall,
        peak_mb=peak.peak / 2**20,
        peak_pss_mb=peak.peak_pss / 2**20,
        main_mb=peak.root_peak / 2**20,
        other_mb=peak.other_peak / 2**20,
        other_pss_mb=peak.other_pss / 2**20,
        at_peak=[peak.at_peak[0] / 2**20, peak.at_peak[1] / 2**20, peak.at_peak[2], peak.at_peak[3]],
        cpu_s=tree_cpu() - cpu0,
        accepted=res.accepted,
        receipts=len(res.receipts),
        stage_wall=stages.wall,
        stage_cpu=stages.cpu,
        ingest_cores=stages.ingest_cores(),
        work_s=stages.top,
    )
    return result


# --- reading, per file -------------------------------------------------------------------------


def read_table(paths: list[Path]) -> list[tuple[str, float, float]]:
    """(contender, median wall ms, median CPU ms) per return.

    The contenders take turns file by file, so a busy machine slows them alike; CPU time
    (this process's) is what such a machine distorts least.
    """
    from python_calamine import CalamineWorkbook

    from nianbao.validate import check_file

    def calamine(path: Path) -> None:
        book = CalamineWorkbook.from_path(path)
        for name in book.sheet_names:
            book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        book.close()

    def analyst(path: Path) -> None:
        """pandas + openpyxl, the way an analyst would check a return: far fewer checks."""
        import pandas as pd

        sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl", header=None)
        summary = sheets["主要指标"]
        values = pd.to_numeric(summary.iloc[:, -1], errors="coerce")
        roster = sheets["基层工会名册"].dropna(how="all")
        (values < 0).any(), roster.iloc[:, 1].duplicated().any()

    contenders: list[tuple[str, Callable[[Path], object] | None]] = [("python-calamine, every cell (floor)", calamine)]
    try:
        import fastexcel

        def fast(path: Path) -> None:
            reader = fastexcel.read_excel(path)
            for name in reader.sheet_names:
                reader.load_sheet(name, header_row=None)  # an Arrow record batch, held in Rust

        contenders.append(("fastexcel, all sheets to Arrow", fast))
    except ImportError:
        contenders.append(("fastexcel (not installed: pip install -e '.[bench]')", None))
    contenders += [("check_file (nianbao validate path)", check_file), ("pandas + openpyxl analyst script", analyst)]
    for path in paths:  # page cache, imports, first-call set-up
        path.read_bytes()
    for _, fn in contenders:
        if fn is not None:
            fn(paths[0])
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in contenders}
    for i, path in enumerate(paths):
        for name, fn in contenders:
            if fn is None or (fn is analyst and i % 10):  # the analyst script is slow: every 10th file
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            fn(path)
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    out = []
    for name, ts in times.items():
        if ts:
            out.append((name, statistics.median(t[0] for t in ts) * 1000, statistics.median(t[1] for t in ts) * 1000))
        else:
            out.append((name, float("nan"), float("nan")))
    return out


def startup(cmd: list[str], repeat: int = 7) -> tuple[float, float]:
    """Median (wall ms, CPU ms) from start to exit; CPU time is what a busy machine distorts least."""
    import resource

    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--big", action="store_true", help="also N = 10 000")
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--skip-read", action="store_true")
    parser.add_argument("--skip-runs", action="store_true", help="only the per-return and start-up figures")
    parser.add_argument("--only", choices=["flow", "pipeline"], help="run only this kind end to end")
    parser.add_argument(
        "--ephemeral", action="store_true",
        help="flow runs start Prefect's temporary server as a child (counted in their memory) instead of "
        "reporting to a server started here first, as under nianbao serve",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="nianbao-speed-"))
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), root)))
        return 0
    ns = sorted(set(args.n + ([10000] if args.big else [])))
    for n in ns:  # inboxes first, so generating them is not timed anywhere
        build_inbox(root / f"n{n}", n, 40, 100)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; returns in {root}")

    if not args.skip_read:
        paths = sorted((root / f"n{ns[0]}" / "inbox").iterdir())[:200]
        rows = read_table(paths)
        floor_wall, floor_cpu = rows[0][1], rows[0][2]
        print(f"\n{'per return (100-row roster), median':<44}{'wall ms':>9}{'×':>7}{'CPU ms':>9}{'×':>7}  (× calamine)")
        for name, wall, cpu in rows:
            print(f"{name:<44}{wall:9.2f}{wall / floor_wall:7.2f}{cpu:9.2f}{cpu / floor_cpu:7.2f}")
        exe = Path(sys.executable).parent
        bare = startup([sys.executable, "-c", "pass"])
        validate = startup([str(exe / "nianbao"), "validate", str(paths[0])])
        addin = startup([sys.executable, "-c", "import nianbao, nianbao.plugin.refresh"])
        print(f"\n{'start to exit, median of 7':<52}{'wall ms':>8}{'CPU ms':>8}")
        print(f"{'python -c pass (interpreter start)':<52}{bare[0]:8.0f}{bare[1]:8.0f}")
        print(f"{'nianbao validate FILE':<52}{validate[0]:8.0f}{validate[1]:8.0f}   target ≤ 250")
        print(f"{'import nianbao.plugin.refresh (Excel button)':<52}{addin[0]:8.0f}{addin[1]:8.0f}   target ≤ 500")

    kinds = [] if args.skip_runs else [args.only] if args.only else ["flow", "pipeline"]
    results = []
    server = None
    if "flow" in kinds and not args.ephemeral:  # as under nianbao serve: the server outlives the runs
        from nianbao.office import Office
        from nianbao.prefect_office import LocalServer, prefect_environment

        office = Office(root / "prefect-office")
        os.environ.update(prefect_environment(office))
        server = LocalServer(office, port=4390)
        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url
    try:
        for n in ns:
            for kind in kinds:
                cmd = [sys.executable, __file__, "--child", kind, str(n), "--dir", str(root)]
                with PeakRSS(root=server.process.pid if server and server.process else os.getpid()) as server_peak:
                    proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode:
                    print(f"{kind} N={n} failed:\n{proc.stderr[-2000:]}")
                    continue
                results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                r = results[-1]
                r["server_mb"] = server_peak.peak / 2**20 if server and kind == "flow" else float("nan")
                print(f"  ran {kind} N={n}: {r['wall_s']:.1f} s", flush=True)
    finally:
        if server is not None:
            server.stop()

    print(f"\n{'run':<10}{'N':>7}{'wall s':>8}{'CPU s':>7}{'ms/ret':>8}{'cores':>7}{'cores@ingest':>13}{'RSS MB':>8}{'PSS MB':>8}{'Prefect':>9}{'server MB':>10}   ms per return by stage")
    for r in results:
        work = r.get("work_s", sum(r["stage_wall"].values()))
        cores_val = r.get("ingest_cores", float("nan"))
        share = (r["wall_s"] - work) / r["wall_s"] if r["kind"] == "flow" else float("nan")
        stages = "  ".join(f"{k} {v / r['n'] * 1000:.1f}" for k, v in r["stage_wall"].items())
        print(
            f"{r['kind']:<10}{r['n']:>7}{r['wall_s']:>8.1f}{r['cpu_s']:>7.1f}{r['wall_s'] / r['n'] * 1000:>8.1f}{r['cores']:>7.2f}{cores_val:>13.2f}"
            f"{r['peak_mb']:>8.0f}{r['peak_pss_mb']:>8.0f}{share:>9.1%}{r.get('server_mb', float('nan')):>10.0f}   {stages}"
        )
    for r in results:
        if "main_mb" in r:
            print(f"{r['kind']} N={r['n']}: peak RSS of the run's own process {r['main_mb']:.0f} MB; largest other process "
                  f"(a worker, the forkserver) RSS {r['other_mb']:.0f} MB, PSS {r['other_pss_mb']:.0f} MB")
            main, others, count, stage = r["at_peak"]
            print(f"  at the tree's peak: the run {main:.0f} MB + {count} other processes {others:.0f} MB, during {stage or 'no timed stage'}")
    print("stages (ms per return): publish = master workbook and receipts together where they overlap, master a part of it;")
    print("cores@ingest: tree CPU over wall from the first return read to the last batch stored")
    print("RSS, PSS: the run's process tree (the run, its workers); server MB: the Prefect server the flow reported to,")
    print("  started once before the runs as nianbao serve does (with --ephemeral: a temporary server inside the run's tree)")
    print("RSS: summed over the process tree (shared pages counted in every process); PSS: shared pages counted once")
    print("targets: check_file ≤ 1.6 × calamine; N = 10 000 flow ≤ 180 s, ≥ 1.6 cores over validate, Prefect ≤ 10 %,")
    print("         peak RSS of the tree ≤ 500 MB, store ms/return flat from 2 000 to 10 000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
