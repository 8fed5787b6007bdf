"""Rendering reports for people (rich tables) and machines (JSON)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from nianbao.schemas.findings import SEVERITY_LABEL, Report

console = Console()


def verdict(report: Report) -> str:
    if not report.readable:
        return "[bold red]无法读取[/]"
    if report.errors:
        return f"[red]有 {len(report.errors)} 个错误[/]" + (f"，{len(report.warnings)} 个提示" if report.warnings else "")
    return "[green]通过[/]" + (f"（{len(report.warnings)} 个提示）" if report.warnings else "")


def show_report(report: Report, out: Console = console) -> None:
    out.print(f"[bold]{report.file}[/]  乡镇：{report.township or '—'}  报告期：{report.period or '—'}  结论：{verdict(report)}")
    if not report.findings:
        return
    table = Table(show_header=True, header_style="bold", expand=False)
    for title in ("级别", "工作表", "单元格", "规则", "说明"):
        table.add_column(title, overflow="fold")
    for f in report.findings:
        style = "red" if f.severity == "error" else "yellow"
        table.add_row(f"[{style}]{SEVERITY_LABEL[f.severity]}[/]", f.sheet or "", f.cell or "", f.code, f.message)
    out.print(table)


def report_json(report: Report) -> str:
    return json.dumps(report.public(), ensure_ascii=False)
