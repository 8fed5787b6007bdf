"""Benchmark: how fast is reading a return, against a raw calamine dump and openpyxl?

    .venv/bin/python benchmarks/bench_read.py [--count 200] [--roster-rows 300] [--dir DIR]

Generates ``--count`` sample returns (valid, ``--roster-rows`` roster rows each; in a temporary
directory unless ``--dir`` is given, where existing files are reused) and prints the median
milliseconds per return of

  (a) ``nianbao.workbooks.reader.read_return``,
  (b) a raw python-calamine dump of every cell of every sheet of the same files (the floor),
  (c) ``openpyxl.load_workbook`` of the same files,
  (d) reader + validator (``nianbao.validate.check_file``),

with the ratios the issue sets: (d)/(b) ≤ 2 and (c)/(d) ≥ 5. Figures are printed, never
asserted: this machine is noisy, and the ratios compare contenders measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import openpyxl
from python_calamine import CalamineWorkbook

from nianbao.schemas.county import load_county
from nianbao.validate import check_file
from nianbao.workbooks.reader import read_return
from nianbao.workbooks.sample import write_sample_return


def _generate_one(args: tuple[Path, int, int]) -> Path:
    path, index, roster_rows = args
    county = load_county()
    township = county.townships[index % len(county.townships)]
    return write_sample_return(path, township, "2025", seed=index, roster_rows=roster_rows)


def generate(out_dir: Path, count: int, roster_rows: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(out_dir / f"return_{i:04d}.xlsx", i, roster_rows) for i in range(count)]
    todo = [job for job in jobs if not job[0].exists()]
    if todo:
        with ProcessPoolExecutor() as pool:
            list(pool.map(_generate_one, todo, chunksize=4))
    return [job[0] for job in jobs]


def calamine_dump(path: Path) -> list:
    """Every cell of every sheet, as python-calamine returns them: the floor for any reader."""
    book = CalamineWorkbook.from_path(path)
    try:
        return [book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names]
    finally:
        book.close()


def openpyxl_load(path: Path) -> object:
    return openpyxl.load_workbook(path)


def median_ms(func: Callable[[Path], object], paths: Iterable[Path]) -> float:
    times = []
    for path in paths:
        start = time.perf_counter()
        func(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def time_reader(paths: list[Path]) -> float:
    return median_ms(read_return, paths)


def time_reader_plus_validator(paths: list[Path]) -> float:
    """Median ms per return for reading *and validating* a return: the whole of ``check_file``."""
    return median_ms(check_file, paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--roster-rows", type=int, default=300)
    parser.add_argument("--dir", type=Path, help="keep the generated returns here (reused on the next run)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nianbao-bench-") as tmp:
        out_dir = args.dir or Path(tmp)
        start = time.perf_counter()
        paths = generate(out_dir, args.count, args.roster_rows)
        print(f"{len(paths)} returns with {args.roster_rows} roster rows in {out_dir} ({time.perf_counter() - start:.1f} s to generate)")
        median_ms(calamine_dump, paths)  # warm the page cache so every contender reads from memory
        reader = time_reader(paths)
        dump = median_ms(calamine_dump, paths)
        full = time_reader_plus_validator(paths)
        slow = median_ms(openpyxl_load, paths)
    print(f"{'(a) read_return':<34}{reader:8.2f} ms")
    print(f"{'(b) calamine dump, all cells':<34}{dump:8.2f} ms")
    print(f"{'(c) openpyxl load_workbook':<34}{slow:8.2f} ms")
    print(f"{'(d) reader+validator (check_file)':<34}{full:8.2f} ms")
    print(f"reader / calamine dump            = {reader / dump:5.2f}")
    print(f"reader+validator / calamine dump  = {full / dump:5.2f}  (target ≤ 2)")
    print(f"openpyxl / reader+validator       = {slow / full:5.1f}  (target ≥ 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
