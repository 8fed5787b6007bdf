"""The ``nianbao`` command line. Each command is a thin shell over library functions."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="乡镇工会年报：模板生成、审核、汇总。",
    no_args_is_help=True,
    add_completion=False,
)
addin_app = typer.Typer(help="Excel 加载项（xlwings）。", no_args_is_help=True)
app.add_typer(addin_app, name="addin")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
