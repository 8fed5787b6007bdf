"""Schema versions: Alembic migrations in ``nianbao/migrations``, applied when a store opens.

Every command opens the store through :func:`nianbao.store.open_store`, which calls
:func:`upgrade_schema`: a fresh database gets the current schema, an older one is upgraded, a
database made by nianbao before migrations existed (no ``alembic_version`` table, but the
tables of the first release) is taken as revision ``0001`` and upgraded, and one whose
revision this nianbao does not know (written by a newer nianbao) is refused.

Two processes opening the same database at once: the check is read-only when the schema is
current (the normal case); otherwise the upgrade runs in one transaction that first takes a
lock -- ``pg_advisory_xact_lock`` on PostgreSQL (DDL is transactional there), ``BEGIN
IMMEDIATE`` on SQLite -- and looks at the version again inside it, so the second process
waits and then finds nothing left to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

FIRST_RELEASE = "0001"  # the schema nianbao shipped before it had migrations
SCHEMA_LOCK_KEY = 0x6E69616E62616F  # "nianbao": the advisory lock taken while upgrading

# What each revision changed, for the line county staff see when their database is upgraded.
CHANGES = {
    "0002": "数值字段不限长度、当前报表指针并发安全、审核意见防重复、运行锁与索引",
    "0003": "保存名册明细与分组合计，用于分组汇总和向上级报送",
    "0004": "记录待发回执，中断后下次运行补发",
    "0005": "记录每个数字的来源单元格与每次发布的内容",
    "0006": "名册单位去掉信用代码索引，入库耗时不再随历史增长",
}


def alembic_config() -> Config:
    config = Config()
    # The installed package's folder, by path: "nianbao:migrations" would be looked up on
    # sys.path, where a tests/nianbao folder can come first.
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The database's revision; ``FIRST_RELEASE`` for an unversioned database of the first release."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None and inspect(conn).has_table("submissions"):
        return FIRST_RELEASE
    return revision


def upgrade_schema(engine: Engine) -> str | None:
    """Bring the database to the head revision; a Chinese line if an older one was upgraded."""
    from nianbao.store import WRITE, SchemaTooNew

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return None
    with engine.execution_options(**{WRITE: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        versioned = MigrationContext.configure(conn).get_current_revision() is not None
        before = current_revision(conn)
        if before == head:
            return None  # another process upgraded it while we waited
        if before is not None:
            try:
                script.get_revision(before)
            except CommandError:
                raise SchemaTooNew(
                    f"数据库 {engine.url.render_as_string(hide_password=True)} 的结构版本为 {before}，"
                    f"比本程序支持的版本 {head} 更新：它已被更高版本的 nianbao 升级过。"
                    "请把本机的 nianbao 升级到相同或更高版本后再运行（数据库未做任何改动）。"
                ) from None
        config.attributes["connection"] = conn
        if before is not None and not versioned:
            command.stamp(config, FIRST_RELEASE)
        command.upgrade(config, "head")
    if before is None:
        return None  # a new database: nothing to tell
    steps = [r.revision for r in script.iterate_revisions(head, before)]
    what = "；".join(CHANGES[r] for r in reversed(steps) if r in CHANGES)
    return f"数据库结构已从版本 {before} 升级到 {head}（{what}），原有数据保持不变。"
