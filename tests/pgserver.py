"""A throwaway PostgreSQL 15 cluster for the tests (and nothing else).

``initdb`` + ``pg_ctl`` from the server binaries (``$NIANBAO_PG_BIN`` or
``/usr/lib/postgresql/15/bin``) into a temporary folder, listening on 127.0.0.1 on a free
port, trust authentication, durability off (a test cluster). PostgreSQL refuses to run as
root, so under root (CI) the cluster belongs to the ``postgres`` OS user, created if missing.
``$NIANBAO_TEST_PG_URL`` points the tests at an existing server instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("NIANBAO_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


class Unavailable(Exception):
    """Why no server could be started (the PostgreSQL tests skip with this reason)."""


@dataclass
class Cluster:
    url: str  # the maintenance database, for CREATE/DROP DATABASE
    directory: Path | None = None
    user: str | None = None

    def stop(self) -> None:
        if self.directory is None:
            return
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop"], self.user)
        shutil.rmtree(self.directory, ignore_errors=True)


def _run(cmd: list[str], user: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, user=user, capture_output=True, text=True, check=True, cwd="/")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _os_user() -> str | None:
    """None when not root; else the unprivileged user the server runs as (created if missing)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER], check=True)
    return OS_USER


def start() -> Cluster:
    if os.environ.get("NIANBAO_TEST_PG_URL"):
        return Cluster(os.environ["NIANBAO_TEST_PG_URL"])
    if not (PG_BIN / "initdb").exists():
        raise Unavailable(
            f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install postgresql-15, or set "
            "NIANBAO_PG_BIN / NIANBAO_TEST_PG_URL): the PostgreSQL half of the store tests did NOT run")
    user = _os_user()
    directory = Path(tempfile.mkdtemp(prefix="nianbao-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(directory / "data"), "-U", "postgres", "--auth=trust",
              "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], user)
        _run([str(PG_BIN / "pg_ctl"), "-D", str(directory / "data"), "-l", str(directory / "server.log"),
              "-o", options, "-w", "start"], user)
    except (subprocess.CalledProcessError, OSError) as exc:
        log = (directory / "server.log").read_text(errors="replace") if (directory / "server.log").exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        detail = getattr(exc, "stderr", "") or str(exc)
        raise Unavailable(f"could not start a PostgreSQL test cluster: {detail.strip()} {log[-500:]}") from exc
    return Cluster(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", directory, user)
