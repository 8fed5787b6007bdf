"""Schema versions: upgrading the first released schema with data intact, refusing a newer
database, the migrations matching the models, and creating the schema twice at once."""

import json
import shutil
import threading
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from nianbao.schema import FIRST_RELEASE, alembic_config, head_revision
from nianbao.store import Base, SchemaTooNew, engine_url, open_store

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store_v1.sqlite"  # made by main's store.py at 9c62de1
TABLES_V1 = ("submissions", "summary_values", "roster_units", "current_returns", "decisions", "runs")


def fixture_rows() -> dict[str, list[dict]]:
    engine = sa.create_engine(f"sqlite:///{FIXTURE}")
    with engine.connect() as conn:
        rows = {t: [dict(r._mapping) for r in conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1, 2")] for t in TABLES_V1}
    engine.dispose()
    for row in rows["submissions"]:
        row["findings"] = json.loads(row["findings"])  # raw text from SQLite: the JSON column wants objects
    return rows


def database_at_first_release(db_url, tmp_path) -> str:
    """SQLite: a copy of the fixture file. PostgreSQL: revision 0001 built by its migration,
    filled with the fixture's rows (the fixture has no alembic_version, like a real first-release database)."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "v1.sqlite"
        shutil.copy(FIXTURE, path)
        return f"sqlite:///{path}"
    engine = sa.create_engine(engine_url(db_url))
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, FIRST_RELEASE)
        meta = sa.MetaData()
        meta.reflect(conn)
        for name in TABLES_V1:
            rows = fixture_rows()[name]
            if rows:
                conn.execute(meta.tables[name].insert(), rows)
        conn.exec_driver_sql("DROP TABLE alembic_version")
        conn.exec_driver_sql("SELECT setval('submissions_id_seq', (SELECT max(id) FROM submissions))")
        conn.exec_driver_sql("SELECT setval('decisions_id_seq', (SELECT max(id) FROM decisions))")
        conn.exec_driver_sql("SELECT setval('runs_id_seq', (SELECT max(id) FROM runs))")
    engine.dispose()
    return db_url


def test_the_first_release_is_upgraded_on_open_with_data_intact(db_url, tmp_path, capsys):
    url = database_at_first_release(db_url, tmp_path)
    store = open_store(url)
    said = capsys.readouterr().err
    assert f"数据库结构已从版本 {FIRST_RELEASE} 升级到 {head_revision()}" in said and "原有数据保持不变" in said

    subs = store.submissions("2025")
    assert subs["file_name"].tolist() == ["chengguan-2025.xlsx", "beiguan-2025.xlsx", "chengguan-2025-v2.xlsx"]
    assert subs["is_current"].tolist() == [False, False, True]
    current = store.current_returns("2025")
    assert current["file_name"].tolist() == ["chengguan-2025-v2.xlsx"]
    assert current.loc[0, "A07"] == 120 and current.loc[0, "F03"] == pytest.approx(0.10)
    assert store.current_returns("2024")["A07"].tolist() == [100]
    assert store.latest_decisions("2025")[["decision", "reason"]].values.tolist() == [["退回", "名册与主要指标不符"]]
    assert store.last_run("2025").counts["expected"] == 18
    assert store.latest_findings("2025")["code"].tolist() == ["le.A08"]
    assert len(store.known_hashes()) == 5
    assert store.unidentified(["/inbox/garbage.xlsx"])["code"].tolist() == ["file.unreadable"]

    # the upgraded pointer took its submission's received time: an older file still cannot win
    from test_store import record  # noqa: E402  (the store tests' helper)
    older = record(store, "older-than-v2", at=datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc), code="419901100")
    assert not older.current
    newer = record(store, "newer-than-v2", at=datetime(2026, 1, 7, tzinfo=timezone.utc), code="419901100")
    assert newer.current and newer.superseded == current.loc[0, "submission_id"]
    # decisions carry on numbering after the upgraded ones
    store.record_decision("419901100", "2025", "通过", by="李四")
    assert store.latest_decisions("2025")["decision"].tolist() == ["通过"]
    store.close()

    again = open_store(url)  # current now: nothing to say
    assert capsys.readouterr().err == ""
    again.close()


def test_the_first_release_migration_builds_the_released_schema(tmp_path):
    """Revision 0001 on an empty SQLite file gives the tables, columns and indexes of the fixture."""
    def shape(url):
        engine = sa.create_engine(url)
        inspector = sa.inspect(engine)
        out = {
            t: (sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(t)),
                sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(t)))
            for t in TABLES_V1
        }
        engine.dispose()
        return out

    url = f"sqlite:///{tmp_path / 'built.sqlite'}"
    engine = sa.create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, FIRST_RELEASE)
    engine.dispose()
    assert shape(url) == shape(f"sqlite:///{FIXTURE}")


def test_migrations_give_exactly_the_models_schema(db_url):
    open_store(db_url).close()
    engine = sa.create_engine(engine_url(db_url))
    with engine.connect() as conn:
        # SQLite keeps the first release's VARCHAR(40) (it enforces no length): compare types on PostgreSQL only
        context = MigrationContext.configure(conn, opts={"compare_type": conn.dialect.name == "postgresql"})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_database_upgraded_by_a_newer_nianbao_is_refused_untouched(db_url):
    open_store(db_url).close()
    engine = sa.create_engine(engine_url(db_url))
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
    with pytest.raises(SchemaTooNew, match="结构版本为 0999，比本程序支持的版本 .* 更新.*请把本机的 nianbao 升级"):
        open_store(db_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0999"
    engine.dispose()


@pytest.mark.parametrize("attempt", range(3))
def test_creating_the_schema_from_several_processes_at_once_is_safe(db_url, attempt):
    """Four openers released together on a fresh database (the issue saw 20 of 20 fail)."""
    start, errors, stores = threading.Barrier(4), [], []

    def opener():
        try:
            start.wait()
            stores.append(open_store(db_url))
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(s.submissions("2025").empty for s in stores)
    for s in stores:
        s.close()
    engine = sa.create_engine(engine_url(db_url))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    engine.dispose()


def test_a_value_no_column_held_before_is_stored(db_url):
    """A rejected return with a 46-digit count: VARCHAR(40) overflowed on PostgreSQL and ended the run."""
    from test_store import record, township_return  # noqa: E402
    from nianbao.schemas.findings import error

    store = open_store(db_url)
    huge = 10**45 + 7
    # The model now refuses such a value itself; the store must still hold whatever reaches it.
    from nianbao.schemas.models import Summary

    base = township_return()
    ret = base.model_copy(update={"summary": Summary.model_construct(**{**base.summary.model_dump(), "A07": huge})})
    rec = record(store, "huge", ret=ret, findings=[error("range", "过大")])
    assert rec.finding is None
    engine = sa.create_engine(engine_url(db_url))
    with engine.connect() as conn:
        value = conn.exec_driver_sql(
            f"SELECT value FROM summary_values WHERE submission_id = {rec.submission_id} AND indicator = 'A07'").scalar()
    engine.dispose()
    assert Decimal(value) == huge
    store.close()
