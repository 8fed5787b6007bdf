"""Prefect inside a county office folder: its state, its log file, and a local server for ``serve``.

Everything here runs before Prefect is imported: Prefect reads its settings (``PREFECT_HOME``,
``PREFECT_LOGGING_SETTINGS_PATH``, the vacuum service's retention) from the environment when it
loads, and the processes it starts (the server, the runner's flow-run processes) inherit it.

* **Quiet console.** Prefect's own English lines go to ``logs/nianbao.log`` in the office
  folder through a logging config that is Prefect's own with its console handlers turned into
  a rotating file (so every process Prefect starts writes there too).
* **A server that schedules.** Prefect's temporary server cannot run schedules, so ``serve``
  starts ``prefect server start`` bound to 127.0.0.1 with its database under the office folder,
  unless ``PREFECT_API_URL`` names a server; it is stopped (with its process group) when
  ``serve`` stops, and its address is written to ``.prefect/server.json`` meanwhile so that
  ``nianbao run`` in the same folder reports to it.
* **Bounded history.** The vacuum service deletes flow runs (and their logs and artifacts)
  older than the configured number of days, and events after the same time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from nianbao.office import Office

DEFAULT_PORT = 4200
SERVER_FILE = "server.json"
HISTORY_DAYS = 90


def prefect_environment(office: Office, history_days: int = HISTORY_DAYS) -> dict[str, str]:
    """The environment variables that put Prefect's state and logs in the office folder."""
    office.prefect_home.mkdir(parents=True, exist_ok=True)
    office.log_file.parent.mkdir(parents=True, exist_ok=True)
    seconds = str(max(1, history_days) * 86400)
    return {
        "PREFECT_HOME": str(office.prefect_home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{(office.prefect_home / 'prefect.db').as_posix()}",
        "PREFECT_LOGGING_SETTINGS_PATH": str(_logging_config(office)),
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": seconds,
        "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": f"P{max(1, history_days)}D",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
    }


def use_office(office: Office, history_days: int = HISTORY_DAYS) -> None:
    """Set :func:`prefect_environment` in this process; a value the user set is kept."""
    for key, value in prefect_environment(office, history_days).items():
        os.environ.setdefault(key, value)


def _logging_config(office: Office) -> Path:
    """Prefect's default logging config with its console handlers writing to the log file."""
    spec = importlib.util.find_spec("prefect")  # located, not imported: importing reads settings
    default = Path(spec.origin).parent / "logging" / "logging.yml"
    config = yaml.safe_load(default.read_text(encoding="utf-8"))
    target = str(office.log_file.resolve()).replace("$", "$$")  # Prefect substitutes ${...}
    for name in ("console", "debug"):
        formatter = config["handlers"][name].get("formatter", "standard")
        config["handlers"][name] = {
            "level": 0,
            "class": "logging.handlers.RotatingFileHandler",
            "formatter": formatter,
            "filename": target,
            "maxBytes": 5_000_000,
            "backupCount": 3,
            "encoding": "utf-8",
        }
    path = office.prefect_home / "logging.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --- finding a running server ----------------------------------------------------------------


def healthy(api_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def running_api(office: Office | None) -> str | None:
    """The Prefect API a run should report to: ``PREFECT_API_URL``, else the server ``serve``
    started for this office folder if it answers; None when there is none."""
    named = os.environ.get("PREFECT_API_URL", "").strip()
    if named:
        return named
    if office is None:
        return None
    try:
        url = json.loads((office.prefect_home / SERVER_FILE).read_text(encoding="utf-8"))["api_url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if healthy(url, timeout=5.0) else None  # a busy server answers slowly


# --- the local server ----------------------------------------------------------------------


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens on it on 127.0.0.1, else a free port."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if os.name != "nt":  # a port just closed (TIME_WAIT) is free for the server, which reuses it too
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port")


@dataclass
class LocalServer:
    """``prefect server start`` for one office folder, in its own process group."""

    office: Office
    port: int = DEFAULT_PORT
    process: subprocess.Popen | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        """Start the server and wait until it answers; raise RuntimeError (Chinese) if it does not."""
        self.port = free_port(self.port)
        self._log = open(self.office.log_file, "ab")
        command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        env = {**os.environ, "PREFECT_UI_API_URL": self.api_url, "PREFECT_SERVER_API_HOST": "127.0.0.1"}
        env.pop("PREFECT_API_URL", None)
        group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {"start_new_session": True}
        if sys.platform.startswith("linux"):
            group["preexec_fn"] = _die_with_parent
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, **group)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.stop()
                raise RuntimeError(f"Prefect 服务器启动失败（退出码 {code}），详见日志 {self.office.log_file}")
            if healthy(self.api_url):
                (self.office.prefect_home / SERVER_FILE).write_text(
                    json.dumps({"api_url": self.api_url, "pid": self.process.pid}), encoding="utf-8"
                )
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Prefect 服务器在 {timeout:.0f} 秒内没有启动，详见日志 {self.office.log_file}")

    def stop(self, grace: float = 20.0) -> None:
        """Stop the server and every process it started; safe to call twice."""
        (self.office.prefect_home / SERVER_FILE).unlink(missing_ok=True)
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL if os.name != "nt" else signal.SIGTERM)
                process.wait(grace)
        if self._log is not None:
            self._log.close()
            self._log = None


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if ``serve`` is killed outright (no orphan even then)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    if os.name == "nt":  # the whole tree: the server and the processes it started
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True, check=False)
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
