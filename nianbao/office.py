"""A county office's folder: settings, inbox, results, database, Prefect's state and logs together.

``nianbao init DIR`` creates one; ``nianbao demo`` builds the demo county as one; ``nianbao
run``/``serve`` and the Excel button find it through its ``nianbao.toml``. Prefect's own state
(its database of flow runs) and the log file of Prefect's English lines live in the same folder,
so copying or backing up the folder keeps everything.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from nianbao.settings import SETTINGS_FILE, SETTINGS_PATH_ENV, user_settings_file

GUIDE_FILE = "使用说明.txt"
PREFECT_DIR = ".prefect"  # Prefect's home: its database of flow runs, schedules and logs
LOG_FILE = Path("logs") / "nianbao.log"  # Prefect's own (English) lines, rotated

SETTINGS_TEXT = """\
# 乡镇工会年报汇总的设置。相对路径从本文件所在的文件夹算起；Windows 路径请用英文单引号括起来。
config = 'county.toml'      # 县配置：乡镇名单、报告期、报送截止日期
inbox = 'inbox'             # 收件箱：乡镇报表放在这里（可以有子文件夹；也可以是 smb:// 等网络地址）
db = 'sqlite:///nianbao.db' # 数据库：收到的每个文件、审核意见和每次运行
out = 'out'                 # 汇总工作簿所在文件夹
outbox = 'outbox'           # 回执所在文件夹（每个乡镇一份）
"""

GUIDE_TEXT = """\
乡镇工会年报汇总 · 使用说明

本文件夹就是县总工会的年报“办公室”，所有数据都在这里：
  nianbao.toml   设置（各文件夹的位置，可用记事本修改）
  county.toml    县配置（乡镇名单、报告期、截止日期）
  inbox\\         收件箱：把乡镇报送的报表放进来（可按年份建子文件夹）
  out\\           汇总工作簿（可在 Excel 或 WPS 中打开，在“报送情况”表填写审核意见后保存）
  outbox\\        回执：每个乡镇一份，发回给乡镇
  nianbao.db     数据库（不要手工修改）
  logs\\          运行日志
  .prefect\\      每晚自动汇总的运行记录

常用命令（在本文件夹中执行）：
  nianbao run      立即汇总一次
  nianbao serve    每晚 02:00 自动汇总（保持运行；浏览器中可查看运行记录）
  nianbao template --all -o 模板   为每个乡镇生成填报模板

审核意见：在汇总工作簿“报送情况”表的“审核意见”列填写“通过”或“退回”，退回须在“审核理由”列写明理由，
保存文件即可；下一次汇总会保存这些意见，并在被退回乡镇的回执中写明理由。
"""


class OfficeError(ValueError):
    """The office folder cannot be created as asked; the message is Chinese."""


@dataclass(frozen=True)
class Office:
    """Where one office keeps Prefect's state and logs: the settings file's folder."""

    folder: Path

    @property
    def prefect_home(self) -> Path:
        return self.folder / PREFECT_DIR

    @property
    def log_file(self) -> Path:
        return self.folder / LOG_FILE


def init_office(folder: Path, config: Path | None = None) -> Path:
    """Create the office folder ``folder``: settings, county config, inbox, out, outbox, database
    and the guide. Returns the settings file. An existing settings file is never overwritten."""
    from nianbao.schemas.county import DEMO_CONFIG, load_county
    from nianbao.store import open_store

    folder = Path(folder)
    settings = folder / SETTINGS_FILE
    if settings.exists():
        raise OfficeError(f"文件夹 {folder.resolve()} 中已有设置文件 {SETTINGS_FILE}，未作改动（如需重新创建，请先移走该文件）")
    target = folder / "county.toml"
    source = Path(config) if config else (target if target.is_file() else DEMO_CONFIG)  # keep a county's own
    load_county(source)  # a broken config is reported before anything is created
    folder.mkdir(parents=True, exist_ok=True)
    if not (target.exists() and target.resolve() == source.resolve()):
        shutil.copyfile(source, target)
    for name in ("inbox", "out", "outbox", "logs"):
        (folder / name).mkdir(exist_ok=True)
    open_store(f"sqlite:///{(folder / 'nianbao.db').resolve()}").close()
    (folder / GUIDE_FILE).write_text(GUIDE_TEXT, encoding="utf-8")
    settings.write_text(SETTINGS_TEXT, encoding="utf-8")
    return settings


def where_looked(cwd: Path) -> str:
    """Chinese: where the settings file was looked for, and how to create one."""
    named = os.environ.get(SETTINGS_PATH_ENV, "").strip()
    places = [f"环境变量 {SETTINGS_PATH_ENV}（{'未设置' if not named else named}）", str(cwd / SETTINGS_FILE), str(user_settings_file())]
    return (
        f"找不到设置文件 {SETTINGS_FILE}。查找过：" + "；".join(places) + "。\n"
        f"请先创建一个年报文件夹：nianbao init 文件夹 [--config county.toml]，然后在该文件夹中运行；"
        f"或用 --inbox 等选项直接指定位置。"
    )
