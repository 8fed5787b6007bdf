"""The ``nianbao`` command line. Each command is a thin shell over library functions.

Every word it prints is Chinese: click's and typer's own messages through their gettext
catalogue (:mod:`nianbao.i18n`), set up before typer is imported; the usage line's placeholders
and every option's value name (``metavar``) here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

from nianbao.i18n import use_chinese

use_chinese()
# pydantic looks for plugins in every installed distribution's entry points when it builds its
# first model: 8 ms of every command's start-up, and nianbao uses none. PYDANTIC_DISABLE_PLUGINS
# set by the user (to anything, "" to re-enable them) is kept.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402  (typer reads its words when imported: after use_chinese)

OPTIONS_METAVAR = "[选项]"
SUBCOMMAND_METAVAR = "命令 [参数]..."


class ChineseTyper(typer.Typer):
    """A Typer whose commands show ``[选项]`` in their usage line, and that answers a bare call
    (``nianbao``, ``nianbao addin``) with its help and exit code 0 instead of a usage error."""

    def __init__(self, *, help: str) -> None:
        super().__init__(
            help=help,
            add_completion=False,
            invoke_without_command=True,
            suggest_commands=False,  # click's own "did you mean" is translated; typer's is not
            options_metavar=OPTIONS_METAVAR,
            subcommand_metavar=SUBCOMMAND_METAVAR,
            callback=_help_when_bare,
        )

    def command(self, *args, options_metavar: str = OPTIONS_METAVAR, **kwargs):
        return super().command(*args, options_metavar=options_metavar, **kwargs)


def _help_when_bare(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help(), nl=False)
        raise typer.Exit(0)


app = ChineseTyper(help="乡镇工会年报：模板生成、审核、汇总。")
addin_app = ChineseTyper(help="Excel 加载项（xlwings）。")
app.add_typer(addin_app, name="addin")


@addin_app.command("build")
def addin_build(
    out: Path = typer.Option(
        Path("dist") / "nianbao.xlam",
        "-o",
        "--out",
        metavar="文件",
        help="输出的加载项文件；文件名必须是 nianbao.xlam（按钮按文件名调用 nianbao.main()）。",
    ),
    interpreter: str = typer.Option(
        sys.executable, "--interpreter", metavar="程序路径", help="Excel 调用的 Python 解释器路径（须已安装本项目）。"
    ),
) -> None:
    """生成 Excel 加载项（“工会年报”选项卡，“刷新汇总”按钮）。"""
    from nianbao.plugin.addin import build_addin

    try:
        path = build_addin(out, interpreter)
    except ValueError as exc:
        typer.echo(f"错误：{exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"已生成 Excel 加载项：{path}")


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., metavar="报表文件…", hidden=True),
    as_json: bool = typer.Option(False, "--json", help="每个文件输出一行 JSON"),
    period: str | None = typer.Option(None, "--period", metavar="报告期", help="应报的报告期，如 2025"),
    config: Path | None = typer.Option(None, "--config", metavar="文件", help="县配置文件（检查乡镇代码）"),
) -> None:
    """审核报表（报表文件必填，可写多个）。退出码：0 无错误（可有提示），1 有错误，2 有文件无法读取。"""
    from nianbao.console import report_json, show_report
    from nianbao.validate import check_file
    from nianbao.schemas.county import load_county

    county = load_county(config) if config else None
    worst = 0
    for path in files:
        report = check_file(path, period=period, county=county).report
        if as_json:
            typer.echo(report_json(report))
        else:
            show_report(report)
        worst = max(worst, 2 if not report.readable else 1 if report.errors else 0)
    raise typer.Exit(worst)


@app.command()
def template(
    township: str | None = typer.Option(None, "--township", metavar="乡镇代码", help="乡镇代码，如 419901100"),
    all_townships: bool = typer.Option(False, "--all", help="为县配置中的每个乡镇各生成一个模板"),
    period: str | None = typer.Option(None, "--period", metavar="报告期", help="报告期，如 2025 或 2025H1（默认：县配置中最新的报告期）"),
    out: Path | None = typer.Option(None, "-o", "--out", metavar="文件或文件夹", help="输出文件；与 --all 同用时为输出目录"),
    config: Path | None = typer.Option(None, "--config", metavar="文件", help="县配置文件 county.toml（默认：示例县）"),
) -> None:
    """生成乡镇年报填报模板（.xlsx），完全由指标目录生成。"""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress

    from nianbao.schemas.county import DEMO_CONFIG, ConfigError, load_county
    from nianbao.workbooks.template import county_period, template_filename, write_county_templates, write_template

    console = Console()

    def fail(message: str) -> None:
        console.print(f"[red]错误：[/red]{escape(message)}", soft_wrap=True)
        raise typer.Exit(1)

    if all_townships == (township is not None):
        fail("请用 --township 指定一个乡镇代码，或用 --all 为全部乡镇生成模板（二者选一）")
    try:
        county = load_county(config or DEMO_CONFIG)
        period = county_period(county, period)
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
    if all_townships:
        out_dir = out or Path("模板")
        with Progress(console=console) as progress:
            task = progress.add_task(f"生成{period}年报模板", total=len(county.townships))
            paths = write_county_templates(county, period, out_dir, on_written=lambda _: progress.advance(task))
        console.print(f"已生成 {len(paths)} 个乡镇的{period}年报模板，保存在：{escape(str(out_dir))}", soft_wrap=True)
        return
    unit = county.township(township)
    if unit is None:
        examples = "、".join(f"{t.code} {t.name}" for t in county.townships[:3])
        fail(f"找不到乡镇代码「{township}」：{county.county_name}的县配置中没有这个乡镇（例如：{examples}）")
    path = write_template(out or Path(template_filename(unit, period)), unit, period, yoy_threshold=county.yoy_threshold)
    console.print(f"已生成{unit.name}（{unit.code}）{period}年报模板：{escape(str(path))}", soft_wrap=True)


def _settings(
    config: Path | None, inbox: str | None, db: str | None, out: str | None, outbox: str | None, *, need_inbox: bool = True
):
    """The county's nianbao.toml (the same file the Excel add-in reads), with options over it,
    and the office folder it sits in. Without a settings file and without ``--inbox``, say in
    Chinese where it was looked for and how to create one (exit 2)."""
    import dataclasses
    import os

    from nianbao.console import console
    from nianbao.office import Office, where_looked
    from nianbao.settings import SETTINGS_ENV, SettingsError, load_settings, settings_file

    try:
        source = settings_file(near=Path.cwd())
        base = load_settings(source)
    except SettingsError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    if need_inbox and source is None and not inbox and not os.environ.get(SETTINGS_ENV["inbox"], "").strip():
        console.print(f"[red]{where_looked(Path.cwd())}[/]", soft_wrap=True)
        raise typer.Exit(2)
    given = {"config": str(config) if config else None, "inbox": inbox, "db": db, "out": out, "outbox": outbox}
    office = Office((source.parent if source else Path.cwd()).resolve())
    return dataclasses.replace(base, **{k: v for k, v in given.items() if v}), office


EXIT_CODES = "退出码：0 完成；1 运行出错（详见提示和日志）；2 设置、县配置、收件箱或数据库有误，未汇总也未发布；75 同一县同一报告期的另一次汇总正在运行（等待超时，请稍后再试）。"

PeriodOpt = Annotated[str | None, typer.Option("--period", metavar="报告期", help="报告期，如 2025；默认为配置中最近的报告期")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", metavar="文件", help="县配置文件（默认：设置文件中的 config）")]
InboxOpt = Annotated[str | None, typer.Option("--inbox", metavar="地址", help="收件箱（本地文件夹或 fsspec 地址，如 smb://server/share/年报）")]
DbOpt = Annotated[str | None, typer.Option("--db", metavar="地址", help="数据库地址（默认 SQLite 文件；也可用 postgresql+psycopg://…）")]
OutOpt = Annotated[str | None, typer.Option("--out", metavar="文件夹", help="汇总工作簿所在文件夹")]
OutboxOpt = Annotated[str | None, typer.Option("--outbox", metavar="文件夹", help="回执输出文件夹")]


@app.command(help=f"立即运行一次汇总流程（收取 → 审核 → 入库 → 汇总 → 发布）。设置取自当前文件夹的 nianbao.toml（见 nianbao init）。{EXIT_CODES}")
def run(
    period: PeriodOpt = None,
    config: ConfigOpt = None,
    inbox: InboxOpt = None,
    db: DbOpt = None,
    out: OutOpt = None,
    outbox: OutboxOpt = None,
) -> None:
    from nianbao.jobs import run_job

    settings, office = _settings(config, inbox, db, out, outbox)
    raise typer.Exit(run_job(settings, office, period))


@app.command(
    help="每晚自动汇总：启动本机 Prefect 服务器（已设置 PREFECT_API_URL 时使用该服务器），按时间表运行，"
    f"并显示查看运行记录的网址；上次成功汇总已超过一个周期时先补跑一次。按 Ctrl+C 停止。{EXIT_CODES}"
)
def serve(
    cron: str = typer.Option("0 2 * * *", "--cron", metavar="表达式", help="运行时间（cron 表达式），默认每天 02:00"),
    timezone: str = typer.Option("Asia/Shanghai", "--timezone", metavar="时区", help="时区"),
    every: int | None = typer.Option(None, "--every", metavar="秒数", min=1, help="每隔多少秒运行一次（代替 --cron，用于试运行）"),
    port: int = typer.Option(4200, "--port", metavar="端口", help="本机 Prefect 服务器（运行记录网页）的端口；被占用时自动换一个"),
    history_days: int = typer.Option(90, "--keep-days", metavar="天数", min=1, help="运行记录保留的天数，更早的自动删除"),
    period: PeriodOpt = None,
    config: ConfigOpt = None,
    inbox: InboxOpt = None,
    db: DbOpt = None,
    out: OutOpt = None,
    outbox: OutboxOpt = None,
) -> None:
    from nianbao.jobs import Schedule, serve_job

    settings, office = _settings(config, inbox, db, out, outbox)
    schedule = Schedule(cron=cron, timezone=timezone, every=every)
    raise typer.Exit(serve_job(settings, office, period, schedule, port=port, history_days=history_days))


@app.command()
def init(
    directory: Path = typer.Argument(..., metavar="文件夹", help="要创建的年报文件夹"),
    config: Path | None = typer.Option(None, "--config", metavar="文件", help="县配置文件 county.toml（默认：演示县的配置）"),
) -> None:
    """创建年报文件夹：设置文件 nianbao.toml、县配置、收件箱、汇总和回执文件夹、数据库和使用说明。"""
    from nianbao.console import console
    from nianbao.office import GUIDE_FILE, OfficeError, init_office
    from nianbao.schemas.county import ConfigError

    try:
        path = init_office(directory, config)
    except (OfficeError, ConfigError) as exc:
        console.print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(2)
    folder = path.parent.resolve()
    console.print(f"已创建年报文件夹：{folder}", soft_wrap=True)
    console.print(f"把乡镇报表放进 {folder / 'inbox'}，然后在该文件夹中运行 nianbao run；说明见 {folder / GUIDE_FILE}", soft_wrap=True)


@app.command("report-up")
def report_up_command(
    out: Path = typer.Option(..., "-o", "--out", metavar="文件", help="输出的上报报表（.xlsx）"),
    period: PeriodOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    force: bool = typer.Option(False, "--force", help="下级报表仍有审核错误时也强制生成（封面备注注明“强制上报”）"),
    filler: str | None = typer.Option(None, "--filler", metavar="姓名", help="封面“填表人”"),
    phone: str | None = typer.Option(None, "--phone", metavar="电话", help="封面“联系电话”"),
    head: str | None = typer.Option(None, "--head", metavar="姓名", help="封面“单位负责人”"),
) -> None:
    """生成本级向上级报送的汇总报表（同一模板；困难职工台账以帮扶汇总代替，不含姓名和身份证号）。"""
    from rich.markup import escape

    from nianbao.console import console
    from nianbao.report_up import Contact, OpenErrors, errors_of, report_up
    from nianbao.store import open_store

    settings, _ = _settings(config, None, db, None, None, need_inbox=False)
    county, period = _county_and_period(settings, period)
    store = open_store(settings.db)
    try:
        up = report_up(store, county, period, out, contact=Contact(filler, phone, head), force=force)
    except OpenErrors as exc:
        console.print(f"[red]未生成上报报表：{escape(str(exc))}[/]")
        raise typer.Exit(1)
    finally:
        store.close()
    console.print(f"已生成{county.county_name}{period}年报上报报表：[cyan]{escape(str(up.path.resolve()))}[/]")
    if up.forced:
        console.print(f"[yellow]强制上报：{escape('、'.join(up.open_errors))} 的审核错误尚未解决，封面备注已注明[/]")
    if up.missing:
        console.print(f"[yellow]尚未报送、未计入汇总的{county.info.child}：{escape('、'.join(up.missing))}[/]")
    for f in up.report.findings:
        console.print(f"{'[red]错误[/]' if f.severity.value == 'error' else '[yellow]提示[/]'} {escape(f.message)}")
    if errors_of(up.report):
        raise typer.Exit(1)


def _county_and_period(settings, period: str | None):
    """The county config and the period asked for (else its latest); a Chinese line and exit 2
    when either is wrong."""
    from rich.markup import escape

    from nianbao.console import console
    from nianbao.schemas.county import ConfigError, load_county
    from nianbao.workbooks.template import county_period

    try:
        county = load_county(settings.config)
        return county, county_period(county, period)
    except (ConfigError, ValueError) as exc:
        console.print(f"[red]错误：[/]{escape(str(exc))}")
        raise typer.Exit(2)


def _consolidated(settings, period: str | None):
    """The period's consolidation from the store, read only: no run or publish is recorded."""
    from nianbao.consolidate import consolidate
    from nianbao.pipeline import now_local
    from nianbao.store import open_store

    county, period = _county_and_period(settings, period)
    store = open_store(settings.db)
    try:
        return consolidate(county, store.load_inputs(period), now_local())
    finally:
        store.close()


@app.command()
def trace(
    indicator: str = typer.Argument(..., metavar="指标代码", hidden=True),
    period: PeriodOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """追溯一个数字（指标代码必填，如 A07、R02，也可写指标名称）：全县合计 = 各乡镇之和，每个乡镇来自哪个文件的哪个单元格；比率追溯到分子和分母。"""
    from nianbao.lineage import resolve, trace_lines

    code = resolve(indicator)
    if code is None:
        typer.echo(f"错误：找不到指标「{indicator}」；请写指标代码（如 A07、R02）或完整的指标名称", err=True)
        raise typer.Exit(2)
    c = _consolidated(_settings(config, None, db, None, None, need_inbox=False)[0], period)
    for line in trace_lines(c, code):
        typer.echo(line)


@app.command("summary-text")
def summary_text(
    period: PeriodOpt = None,
    out: Path | None = typer.Option(None, "-o", "--out", metavar="文件.docx", help="另存为 Word 文件（.docx）"),
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """按组织建设、集体协商、维权服务、帮扶救助、安全与竞赛、工会经费逐段写出全县统计综述（含同比和报送率）。"""
    from nianbao.narrative import plain_text, write_docx

    if out is not None and out.suffix.lower() != ".docx":
        typer.echo(f"错误：输出文件「{out}」应以 .docx 结尾（Word 文件）", err=True)
        raise typer.Exit(2)
    c = _consolidated(_settings(config, None, db, None, None, need_inbox=False)[0], period)
    typer.echo(plain_text(c), nl=False)
    if out is not None:
        typer.echo(f"已保存 Word 文件：{write_docx(c, out)}")


@app.command()
def demo(
    directory: Path = typer.Option(Path("demo"), "--dir", metavar="文件夹", help="演示县的目录"),
    level: str = typer.Option("县", "--level", metavar="级别", help="县：一个演示县；市：几个演示县各自汇总后上报到演示市"),
) -> None:
    """生成演示县的年报文件夹（设置、县配置、两年的报表，含错误、逾期、未报、重报）并运行一次汇总。"""
    from nianbao.console import console
    from nianbao.demo import build_demo, move_later
    from nianbao.jobs import run_job
    from nianbao.office import Office, init_office
    from nianbao.schemas.county import load_county
    from nianbao.settings import SETTINGS_FILE, load_settings

    if level in ("市", "city"):
        _demo_city(directory)
        return
    if level not in ("县", "county"):
        console.print(f"[red]--level 只能是“县”或“市”，收到「{level}」[/]")
        raise typer.Exit(2)

    config_path, inbox = directory / "county.toml", directory / "inbox"
    plan = None
    if config_path.is_file() and inbox.is_dir():
        # Regenerated files would differ in their timestamps and count as resubmissions.
        console.print(f"演示县已存在，直接再运行一次汇总（已入库的文件不会重复入库）：{inbox.resolve()}")
    else:
        with console.status("正在生成演示县的报表……"):
            plan = build_demo(directory)
    if not (directory / SETTINGS_FILE).is_file():
        init_office(directory, config_path)
    county = load_county(config_path)
    console.print(f"演示县：{county.county_name}，{len(county.townships)} 个乡镇，收件箱 {inbox.resolve()}")

    def run() -> int:
        return run_job(load_settings(directory / SETTINGS_FILE), Office(directory.resolve()), None)

    code = run()
    if code == 0 and plan is not None and plan.later:
        moved = move_later(plan, county.latest_period)
        console.print(f"\n收到更正后的报表 {len(moved)} 份（{'、'.join(p.name for p in moved)}），再次汇总，见「变动情况」表：", soft_wrap=True)
        code = run()
    console.print(f"演示县的年报文件夹：{directory.resolve()}（可在其中运行 nianbao run、nianbao serve）", soft_wrap=True)
    raise typer.Exit(code)


def _run_demo(directory: Path, config_path: Path, inbox: Path) -> int:
    """Run the demo city's consolidation once, its data under ``directory``; the exit code."""
    from nianbao.jobs import run_job
    from nianbao.office import Office
    from nianbao.settings import Settings

    settings = Settings(
        config=str(config_path),
        inbox=str(inbox),
        db=f"sqlite:///{(directory / 'nianbao.db').resolve()}",
        out=str(directory / "out"),
        outbox=str(directory / "outbox"),
    )
    return run_job(settings, Office(directory.resolve()), None)


def _demo_city(directory: Path) -> None:
    from nianbao.console import console
    from nianbao.demo_city import build_demo_city
    from nianbao.schemas.county import load_county

    config_path, inbox = directory / "city.toml", directory / "inbox"
    if config_path.is_file() and inbox.is_dir():
        console.print(f"演示市已存在，直接再运行一次汇总：{inbox.resolve()}")
    else:
        with console.status("正在生成演示市：各县汇总乡镇报表并生成上报报表……"):
            build_demo_city(directory)
    city = load_county(config_path)
    console.print(f"演示市：{city.county_name}，{len(city.townships)} 个县，收件箱（各县上报报表）{inbox.resolve()}")
    raise typer.Exit(_run_demo(directory, config_path, inbox))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
