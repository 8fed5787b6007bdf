"""The command line speaks Chinese: help, usage errors, suggestions, a bare call."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
import typer
from typer.testing import CliRunner

from nianbao.cli import app

# Words click and typer print when a message escaped translation, and click's type names.
ENGLISH = (
    "Usage", "Options", "Arguments", "Commands", "Missing", "Show this message", "[default",
    "[required]", "Error", "Try ", "for help", "No such", "Did you mean", "Aborted",
    "Invalid value", "TEXT", "PATH", "INTEGER", "FILE", "<bool>", "<str>", "<path>", "[OPTIONS]",
    "COMMAND", "[ARGS]", "requires an argument",
)


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


ALL_COMMANDS = list(_commands(typer.main.get_command(app)))


def _english_in(text: str) -> list[str]:
    return [word for word in ENGLISH if word in text]


def test_the_command_tree_was_walked():
    assert ("validate",) in ALL_COMMANDS and ("addin", "build") in ALL_COMMANDS and () in ALL_COMMANDS


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: " ".join(c) or "nianbao")
def test_every_help_is_chinese(command):
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "用法：" in result.output and "显示本帮助后退出。" in result.output
    assert _english_in(result.output) == []


@pytest.mark.parametrize(
    "args, expected",
    [
        (["valdate"], ["没有命令 'valdate'", "您要输入的是不是：'validate'"]),
        (["validate"], ["缺少参数", "报表文件"]),
        (["validate", "--bogus", "x.xlsx"], ["没有选项 '--bogus'"]),
        (["template", "--township"], ["选项 '--township' 后面需要写取值"]),
        (["addin", "bild"], ["没有命令 'bild'", "'build'"]),
    ],
)
def test_usage_errors_are_chinese(args, expected):
    result = CliRunner().invoke(app, args, terminal_width=100)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output
    assert "错误" in result.output and _english_in(result.output) == []


@pytest.mark.parametrize("args", [[], ["addin"]])
def test_a_bare_call_shows_the_help_and_succeeds(args):
    result = CliRunner().invoke(app, args, terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "用法：" in result.output and "命令" in result.output
    assert _english_in(result.output) == []


def test_the_installed_command_speaks_chinese_whatever_the_locale(tmp_path):
    """The real entry point in a fresh process, with an English locale set."""
    env = {**os.environ, "LANG": "en_US.UTF-8", "LC_ALL": "C", "LANGUAGE": "en", "COLUMNS": "100"}
    bindir = os.path.dirname(sys.executable)
    result = subprocess.run([os.path.join(bindir, "nianbao"), "validate"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert "缺少参数" in result.stderr and _english_in(result.stderr) == []
