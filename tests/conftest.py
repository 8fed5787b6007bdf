import sys
import uuid
from pathlib import Path

# Shared test helpers (rule_fixtures.py, office.py, pgserver.py) live beside this file.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

import pgserver  # noqa: E402
from office import Office, missing_tools  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def office(tmp_path_factory) -> Office:
    """LibreOffice headless for recalculation and PDF rendering; skips when not installed."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"LibreOffice/poppler not installed ({', '.join(missing)}): "
                    "apt-get install -y libreoffice-calc-nogui poppler-utils fonts-wqy-zenhei")
    root = tmp_path_factory.mktemp("office")
    return Office(root / "profile", root / "out")


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the session (see tests/pgserver.py)."""
    try:
        cluster = pgserver.start()
    except pgserver.Unavailable as exc:
        pytest.skip(f"!!! POSTGRESQL TESTS SKIPPED: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh, empty database on the test cluster, dropped afterwards."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield pg_cluster.url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A store URL on each backend: a new SQLite file, or a new database on the test cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'nianbao.db'}"
    return request.getfixturevalue("pg_url")


def pytest_terminal_summary(terminalreporter):
    """How many tests ran on the PostgreSQL server (CI's log says so; a skip says why, loudly)."""
    counts = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        counts[outcome] = sum(1 for r in terminalreporter.stats.get(outcome, []) if "postgresql" in getattr(r, "nodeid", ""))
    if any(counts.values()):
        line = "PostgreSQL tests: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        terminalreporter.write_sep("=", line, red=bool(counts["skipped"] or counts["failed"]), green=not counts["skipped"])
