"""Time ``nianbao run`` with nothing new, as a county office types it, in a fresh process.

Compares, in the same run of this script on the same demo folder:

* ``nianbao run`` as it is now (no Prefect server running: the plain functions, no Prefect);
* the Prefect flow with Prefect's temporary server (what ``nianbao run`` did before: start a
  temporary server, run the flow, stop the server);
* ``nianbao run`` while ``nianbao serve``'s server is up (the flow against that server), if
  ``--with-server`` is given (starts and stops a local Prefect server, ~20 s more).

Usage: ``.venv/bin/python benchmarks/bench_run.py [--repeat 3] [--with-server]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
FLOW_WITH_TEMPORARY_SERVER = (
    "from nianbao.flows.nightly import nightly; from nianbao.settings import load_settings; "
    "s = load_settings('nianbao.toml'); "
    "nightly(config=s.config, inbox=s.inbox, db=s.db, out=s.out, outbox=s.outbox)"
)


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--with-server", action="store_true")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIANBAO_"))}
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        root = Path(tmp) / "demo"
        subprocess.run([str(BIN / "nianbao"), "demo", "--dir", str(root)], env=env, check=True, capture_output=True)
        cases = {
            "nianbao run (no server: plain functions)": [str(BIN / "nianbao"), "run"],
            "Prefect flow, temporary server (before)": [sys.executable, "-c", FLOW_WITH_TEMPORARY_SERVER],
        }
        figures = {name: [timed(cmd, root, env) for _ in range(args.repeat)] for name, cmd in cases.items()}
        if args.with_server:
            from nianbao.office import Office
            from nianbao.prefect_office import LocalServer, prefect_environment

            office = Office(root)
            server_env = {**env, **prefect_environment(office)}
            os.environ.update(prefect_environment(office))
            server = LocalServer(office, port=0)
            server.start()
            try:
                name = "nianbao run (serve's server up: Prefect flow)"
                figures[name] = [timed([str(BIN / "nianbao"), "run"], root, server_env) for _ in range(args.repeat)]
            finally:
                server.stop()
    base = statistics.median(figures["Prefect flow, temporary server (before)"])
    print(f"run with nothing new, 36 files, median of {args.repeat} (load {os.getloadavg()[0]:.1f}):")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"  {name:48s} {median:6.1f} s  (x{median / base:.2f} of before)  runs: {', '.join(f'{v:.1f}' for v in values)}")


if __name__ == "__main__":
    main()
