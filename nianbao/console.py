"""Rendering reports for people (rich tables) and machines (JSON)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from nianbao.schemas.findings import SEVERITY_LABEL, Report
from nianbao.workbooks.safe_text import safe_console

console = Console()


def verdict(report: Report) -> str:
    if not report.readable:
        return "[bold red]无法读取[/]"
    if report.errors:
        return f"[red]有 {len(report.errors)} 个错误[/]" + (f"，{len(report.warnings)} 个提示" if report.warnings else "")
    return "[green]通过[/]" + (f"（{len(report.warnings)} 个提示）" if report.warnings else "")


def show_report(report: Report, out: Console = console) -> None:
    out.print(
        f"[bold]{safe_console(report.file)}[/]  乡镇：{safe_console(report.township or '—')}  "
        f"报告期：{safe_console(report.period or '—')}  结论：{verdict(report)}"
    )
    if not report.findings:
        return
    table = Table(show_header=True, header_style="bold", expand=False)
    for title in ("级别", "工作表", "单元格", "规则", "说明"):
        table.add_column(title, overflow="fold")
    for f in report.findings:
        style = "red" if f.severity == "error" else "yellow"
        table.add_row(
            f"[{style}]{SEVERITY_LABEL[f.severity]}[/]", safe_console(f.sheet or ""), safe_console(f.cell or ""), f.code, safe_console(f.message)
        )
    out.print(table)


def report_json(report: Report) -> str:
    return json.dumps(report.public(), ensure_ascii=False)
