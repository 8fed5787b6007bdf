"""Where a county office keeps its data: the settings every entry point shares.

The nightly job, ``nianbao run`` and the Excel add-in read the same ``nianbao.toml`` (found
through ``$NIANBAO_SETTINGS``, beside the master workbook, or in the user's folder), with
``NIANBAO_*`` environment variables over it and the embedded defaults under it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nianbao.schemas.county import DEMO_CONFIG, CountyConfig
from nianbao.workbooks.safe_text import safe_filename


@dataclass(frozen=True)
class Settings:
    """Where everything lives. The defaults are the embedded, single-machine set-up."""

    config: str = str(DEMO_CONFIG)
    inbox: str = "workbooks/inbox"  # an fsspec URL: a folder, smb://, sftp://, s3:// …
    db: str = "sqlite:///workbooks/nianbao.db"  # or postgresql+psycopg://user@host/db
    out: str = "workbooks/out"  # the master workbook goes here
    outbox: str = "workbooks/outbox"  # receipts (回执) for the townships
    batch_size: int = 50
    processes: int = 0  # worker processes that read returns and write receipts; 0: one per core

    def master_path(self, county: CountyConfig, period: str) -> Path:
        return Path(self.out) / master_name(county, period)


def master_name(county: CountyConfig, period: str) -> str:
    return safe_filename(f"{county.county_name}{period}工会年报汇总", "工会年报汇总") + ".xlsx"


# --- where a county office keeps its settings ------------------------------------------------

SETTINGS_FILE = "nianbao.toml"
SETTINGS_PATH_ENV = "NIANBAO_SETTINGS"
# Settings field -> the environment variable that overrides it.
SETTINGS_ENV = {
    "config": "NIANBAO_CONFIG",
    "inbox": "NIANBAO_INBOX",
    "db": "NIANBAO_DB",
    "out": "NIANBAO_OUT",
    "outbox": "NIANBAO_OUTBOX",
    "batch_size": "NIANBAO_BATCH_SIZE",
    "processes": "NIANBAO_PROCESSES",
}


class SettingsError(ValueError):
    """A settings file or variable that cannot be used; the message is Chinese and says where."""


def user_settings_file() -> Path:
    """The per-user settings file: ``%USERPROFILE%\\.nianbao\\nianbao.toml`` (``~/.nianbao/`` elsewhere)."""
    return Path.home() / ".nianbao" / SETTINGS_FILE


def settings_file(near: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The settings file to use: ``$NIANBAO_SETTINGS``, else ``nianbao.toml`` in the folder
    ``near`` (the master workbook's folder) or the folder above it, else
    :func:`user_settings_file`; None if none exists."""
    env = os.environ if env is None else env
    named = env.get(SETTINGS_PATH_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(f"环境变量 {SETTINGS_PATH_ENV} 指向的设置文件不存在：{path}（应为 {SETTINGS_FILE} 文件的完整路径）")
        return path
    # An office folder made by ``nianbao init`` keeps the master workbook in out/: look one up too.
    candidates = ([Path(near) / SETTINGS_FILE, Path(near).parent / SETTINGS_FILE] if near is not None else []) + [user_settings_file()]
    return next((p for p in candidates if p.is_file()), None)


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the TOML file ``path`` (keys = Settings fields), with ``NIANBAO_*``
    environment variables over it and :class:`Settings` defaults under it.

    A relative path in the file counts from the file's folder (so the file can sit beside the
    data); ``db`` may be a plain file path (SQLite) or a database URL.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(
                f"设置文件 {path} 无法读取或格式有误：{exc}（每行应为 键 = '值'；"
                "Windows 路径请用英文单引号括起来，如 inbox = 'D:\\年报\\收件箱'）"
            ) from None
        unknown = sorted(set(data) - set(SETTINGS_ENV))
        if unknown:
            raise SettingsError(
                f"设置文件 {path} 中有不认识的设置项：{'、'.join(unknown)}；可用的设置项为 {'、'.join(SETTINGS_ENV)}"
            )
        values = {key: _setting(key, value, f"设置文件 {path} 的 {key}", path.parent) for key, value in data.items()}
    for key, var in SETTINGS_ENV.items():
        if env.get(var, "").strip():
            values[key] = _setting(key, env[var].strip(), f"环境变量 {var}", None)
    return dataclasses.replace(Settings(), **values)


def _setting(key: str, value: object, where: str, folder: Path | None) -> object:
    if key in ("batch_size", "processes"):
        least, example = (1, "50") if key == "batch_size" else (0, "2（0 表示每个处理器核心一个）")
        try:
            number = int(str(value))
        except ValueError:
            number = -1
        if isinstance(value, bool) or number < least:
            raise SettingsError(f"{where} 为「{value}」，应为{'正' if least else '非负'}整数，如 {example}")
        return number
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where} 为「{value}」，应为非空的路径或地址（用英文引号括起来）")
    value = value.strip()
    if folder is None:
        return value
    prefix = "sqlite:///"
    if key == "db" and value.startswith(prefix):
        rest = value[len(prefix) :]
        return prefix + _from_folder(rest, folder) if rest and rest != ":memory:" else value
    return value if "://" in value else _from_folder(value, folder)


def _from_folder(value: str, folder: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())
