import pytest
from typer.testing import CliRunner

from nianbao.cli import app


@pytest.mark.parametrize("command", [["run"], ["serve"], ["demo"], ["validate"], ["template"], ["addin", "build"]])
def test_every_command_builds_its_help_in_chinese(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert any("\u4e00" <= ch <= "\u9fff" for ch in result.output)
