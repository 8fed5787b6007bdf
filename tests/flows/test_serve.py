"""``nianbao serve`` as a county office runs it: a real Prefect server started and stopped by
serve, a schedule a few seconds apart, and a run that happens by itself.

Slow on purpose (marked ``slow``): it starts a real Prefect server in a subprocess and waits
for the scheduler to create a run and the runner to execute it. Every wait is bounded; the
whole test takes one to three minutes on a busy two-core machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nianbao.demo import build_demo
from nianbao.office import init_office
from nianbao.prefect_office import SERVER_FILE

pytestmark = pytest.mark.slow

STARTUP = 180  # seconds: server start, deployment, catch-up run
SCHEDULED = 240  # seconds: until the scheduler's run has written the master workbook


@pytest.fixture
def own_tmp():
    """A temporary folder of this test's own: pytest's tmp_path may be removed as "old" by
    another pytest session on the same machine while serve is still working in it."""
    with tempfile.TemporaryDirectory(prefix="nianbao-serve-") as folder:
        yield Path(folder)


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen, out: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"serve exited ({proc.returncode}) while waiting for {what}:\n{out.read_text(encoding='utf-8')}")
        time.sleep(1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}:\n{out.read_text(encoding='utf-8')}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(os.name == "nt", reason="uses POSIX signals to stop serve like a service manager does")
def test_serve_runs_the_schedule_by_itself_and_stops_what_it_started(own_tmp):
    tmp_path = own_tmp
    root = tmp_path / "office"
    plan = build_demo(root, roster_rows=3, ledger_rows=1)
    init_office(root, plan.config_path)
    master = root / "out" / f"{plan.county.county_name}2025工会年报汇总.xlsx"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIANBAO_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",  # the scheduler looks every 2 s, not every 60 s
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        COLUMNS="200",
    )
    out = tmp_path / "serve.out"
    command = [str(Path(sys.executable).with_name("nianbao")), "serve", "--every", "8", "--port", "0"]
    with open(out, "wb") as sink:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        info = wait_for(lambda: _server_info(root), STARTUP, "the local Prefect server", proc, out)
        wait_for(lambda: "补跑完成" in out.read_text(encoding="utf-8"), STARTUP, "the catch-up run", proc, out)
        assert master.exists()
        master.unlink()  # from here on only a scheduled run can write it again
        wait_for(master.exists, SCHEDULED, "a scheduled run to write the master workbook", proc, out)
        assert alive(info["pid"])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # what systemd does on stop
        proc.wait(90)
    text = out.read_text(encoding="utf-8")
    assert "运行记录：在浏览器中打开" in text and "http://127.0.0.1:" in text
    assert "还没有成功汇总过：现在先补跑一次" in text
    assert "本机 Prefect 服务器已关闭" in text
    for word in ("Task run", "Flow run", "Starting temporary server", "Traceback", "Warning"):
        assert word not in text
    deadline = time.monotonic() + 30
    while alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(info["pid"]), "the Prefect server outlived serve"
    while _working_in(root) and time.monotonic() < deadline + 30:
        time.sleep(0.5)
    assert _working_in(root) == [], "processes started by serve outlived it"
    assert not (root / ".prefect" / SERVER_FILE).exists()
    log = (root / "logs" / "nianbao.log").read_text(encoding="utf-8")
    assert "Finished in state Completed()" in log
    assert (root / ".prefect" / "prefect.db").exists()


def _working_in(root: Path) -> list[str]:
    """Live processes whose working folder is the office folder (serve and all it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(root)) and alive(int(entry.name)):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    return found


def _server_info(root: Path) -> dict | None:
    try:
        return json.loads((root / ".prefect" / SERVER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
