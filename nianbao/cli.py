"""The ``nianbao`` command line. Each command is a thin shell over library functions."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

app = typer.Typer(
    help="乡镇工会年报：模板生成、审核、汇总。",
    no_args_is_help=True,
    add_completion=False,
)
addin_app = typer.Typer(help="Excel 加载项（xlwings）。", no_args_is_help=True)
app.add_typer(addin_app, name="addin")


@addin_app.command("build")
def addin_build(
    out: Path = typer.Option(
        Path("dist") / "plugin.xlam",
        "-o",
        "--out",
        help="输出的加载项文件；文件名必须是 plugin.xlam（按钮按文件名调用 plugin.main()）。",
    ),
    interpreter: str = typer.Option(
        sys.executable, "--interpreter", help="Excel 调用的 Python 解释器路径。"
    ),
    project: Path | None = typer.Option(
        None, "--project", help="包含 plugin 包的项目目录（默认：本项目根目录）。"
    ),
) -> None:
    """生成 Excel 加载项（“工会年报”选项卡，“刷新汇总”按钮）。"""
    from plugin.addin import build_addin, default_project_dir

    try:
        path = build_addin(out, interpreter, project or default_project_dir())
    except ValueError as exc:
        typer.echo(f"错误：{exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"已生成 Excel 加载项：{path}")


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., help="要审核的报表文件"),
    as_json: bool = typer.Option(False, "--json", help="每个文件输出一行 JSON"),
    period: str | None = typer.Option(None, "--period", help="应报的报告期，如 2025"),
    config: Path | None = typer.Option(None, "--config", help="县配置文件（检查乡镇代码）"),
) -> None:
    """审核报表。退出码：0 无错误（可有提示），1 有错误，2 有文件无法读取。"""
    from nianbao.console import report_json, show_report
    from nianbao.validate import check_file
    from schemas.county import load_county

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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
