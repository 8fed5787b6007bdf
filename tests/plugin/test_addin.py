"""The built Excel add-in: ribbon labels, config sheet, and untouched xlwings parts."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from nianbao.cli import app
from nianbao.plugin.addin import (
    CONFIG_SHEET,
    TEMPLATE_ON_ACTION,
    VBA_PART,
    build_addin,
    edited_parts,
    template_path,
)

REPO = Path(__file__).resolve().parents[2]
NS_UI = "{http://schemas.microsoft.com/office/2006/01/customui}"
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# Spaces, backslashes and an ampersand: must survive XML escaping unchanged.
INTERPRETER = r"C:\Program Files\Python & Co\python.exe"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_addin(tmp_path_factory.mktemp("addin") / "nianbao.xlam", INTERPRETER)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def config_from_xml(path: Path) -> tuple[list[str], dict[str, object]]:
    """Sheet names, and {key: value} of the config sheet, read straight from the parts."""
    with zipfile.ZipFile(path) as z:
        wb = ET.fromstring(z.read("xl/workbook.xml"))
        sheets = {s.get("name"): s.get(f"{NS_R}id") for s in wb.iter(f"{NS_MAIN}sheet")}
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels}
        sst = ET.fromstring(z.read("xl/sharedStrings.xml"))
        strings = ["".join(si.itertext()) for si in sst.findall(f"{NS_MAIN}si")]
        assert sst.get("uniqueCount") == str(len(strings))
        sheet = ET.fromstring(z.read("xl/" + targets[sheets[CONFIG_SHEET]]))

    def value(c: ET.Element) -> object:
        v = c.findtext(f"{NS_MAIN}v")
        return {"s": lambda: strings[int(v)], "b": lambda: v == "1"}.get(c.get("t"), lambda: v)()

    config: dict[str, object] = {}
    for row in sheet.iter(f"{NS_MAIN}row"):
        cells = {c.get("r")[0]: c for c in row}
        if "A" in cells and cells["A"].findtext(f"{NS_MAIN}v") is not None:
            config[value(cells["A"])] = value(cells["B"]) if "B" in cells else None
    return list(sheets), config


def test_is_a_valid_zip_with_the_template_members_in_order(built):
    assert zipfile.is_zipfile(built)
    with zipfile.ZipFile(built) as z, zipfile.ZipFile(template_path()) as t:
        assert z.testzip() is None
        assert z.namelist() == t.namelist()


def test_ribbon_labels_and_button_action(built):
    root = ET.fromstring(members(built)["customUI/customUI.xml"])
    tabs = list(root.iter(f"{NS_UI}tab"))
    buttons = list(root.iter(f"{NS_UI}button"))
    assert [t.get("label") for t in tabs] == ["工会年报"]
    assert [b.get("label") for b in buttons] == ["刷新汇总"]
    # The VBA callback that runs "import nianbao; nianbao.main()"; it must exist in the VBA project
    # (the PROJECT stream inside vbaProject.bin is uncompressed text).
    assert buttons[0].get("onAction") == TEMPLATE_ON_ACTION == "RibbonMyAddin.RunMain"
    module = TEMPLATE_ON_ACTION.split(".")[0]
    assert f"Module={module}".encode() in members(built)[VBA_PART]


def test_file_name_gives_the_module_the_button_imports(built):
    # RibbonMyAddin.RunMain imports the module named like the add-in file (ThisWorkbook.Name).
    assert built.name == "nianbao.xlam"
    import importlib

    import nianbao

    refresh = importlib.import_module("nianbao.plugin.refresh")
    assert built.stem == nianbao.__name__ and callable(getattr(nianbao, "main"))
    assert refresh.main.__module__ == "nianbao.plugin.refresh"


def test_config_sheet_is_enabled_and_points_at_the_interpreter(built):
    sheet_names, config = config_from_xml(built)
    assert sheet_names == ["myaddin.conf"]  # the template ships it disabled as _myaddin.conf
    assert config == {
        "Interpreter_Win": INTERPRETER,
        "Interpreter_Mac": INTERPRETER,
        "PYTHONPATH": None,
        "Conda Path": None,
        "Conda Env": None,
        "UDF Modules": None,
        "Debug UDFs": False,
        "Use UDF Server": False,
        "Show Console": False,
    }


def test_config_sheet_reads_back_with_openpyxl(built):
    # openpyxl refuses add-ins; relabel the workbook part as .xlsm in memory to read it.
    buf = io.BytesIO()
    with zipfile.ZipFile(built) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"ms-excel.addin.macroEnabled", b"ms-excel.sheet.macroEnabled")
            dst.writestr(info, data)
    wb = openpyxl.load_workbook(io.BytesIO(buf.getvalue()), keep_vba=True)
    assert wb.sheetnames == ["myaddin.conf"]
    ws = wb["myaddin.conf"]
    rows = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, 10)}
    assert rows["Interpreter_Win"] == rows["Interpreter_Mac"] == INTERPRETER
    assert rows["PYTHONPATH"] is None
    assert wb.vba_archive is not None


def test_vba_project_is_byte_identical_to_xlwings_template(built):
    assert members(built)[VBA_PART] == members(template_path())[VBA_PART]


def test_only_the_intended_xml_parts_change(built):
    edited = edited_parts()
    assert edited == {
        "customUI/customUI.xml",
        "xl/workbook.xml",
        "xl/worksheets/sheet1.xml",
        "xl/sharedStrings.xml",
    }
    ours, theirs = members(built), members(template_path())
    for name in theirs:
        if name in edited:
            assert ours[name] != theirs[name], name
        else:
            assert ours[name] == theirs[name], name


def test_zip_entries_keep_template_dates_and_compression(built):
    with zipfile.ZipFile(built) as z, zipfile.ZipFile(template_path()) as t:
        for a, b in zip(z.infolist(), t.infolist()):
            assert (a.filename, a.date_time, a.compress_type) == (
                b.filename,
                b.date_time,
                b.compress_type,
            )


def test_build_is_reproducible(built, tmp_path):
    again = build_addin(tmp_path, INTERPRETER)  # a directory gets nianbao.xlam inside
    assert again == tmp_path.resolve() / "nianbao.xlam"
    assert again.read_bytes() == built.read_bytes()


def test_the_button_import_reaches_the_refresh_entry_point(tmp_path):
    """Mirror the VBA: prepare_sys_path with the add-in's folder and an empty PYTHONPATH, then
    ``import nianbao`` (without running Excel) and check that ``nianbao.main`` hands over to
    the refresh code of the installed package."""
    path = build_addin(tmp_path / "nianbao.xlam", sys.executable)
    pythonpath = config_from_xml(path)[1]["PYTHONPATH"] or ""
    code = (
        "import importlib.util, inspect, xlwings.utils;"
        f"xlwings.utils.prepare_sys_path({'false;;;;;;' + str(tmp_path) + ';' + pythonpath!r});"
        "import nianbao;"
        "print(importlib.util.find_spec('nianbao.plugin.refresh').origin);"
        "print('nianbao.plugin.refresh' in inspect.getsource(nianbao.main))"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-B", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    origin, hands_over = out.stdout.split()
    assert Path(origin) == REPO / "plugin" / "refresh.py"
    assert hands_over == "True"


@pytest.mark.parametrize("name", ["plugin.xlam", "Nianbao.xlam", "nianbao.xlsm"])
def test_rejects_a_file_name_that_would_import_another_module(tmp_path, name):
    with pytest.raises(ValueError, match="nianbao.xlam"):
        build_addin(tmp_path / name, INTERPRETER)
    assert not list(tmp_path.iterdir())


def test_rejects_a_local_python_that_cannot_import_nianbao(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    with pytest.raises(ValueError, match="无法导入 nianbao"):
        build_addin(tmp_path / "nianbao.xlam", str(bare / "bin" / "python"))
    assert not (tmp_path / "nianbao.xlam").exists()


def test_cli_build_with_options(tmp_path):
    out = tmp_path / "out" / "nianbao.xlam"
    result = CliRunner().invoke(app, ["addin", "build", "-o", str(out), "--interpreter", INTERPRETER])
    assert result.exit_code == 0, result.output
    assert "已生成 Excel 加载项" in result.output and str(out) in result.output
    assert config_from_xml(out)[1]["Interpreter_Win"] == INTERPRETER


def test_cli_build_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["addin", "build"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "dist" / "nianbao.xlam"
    config = config_from_xml(out)[1]
    assert config["Interpreter_Win"] == config["Interpreter_Mac"] == sys.executable
    assert config["PYTHONPATH"] is None


def test_cli_build_reports_a_wrong_file_name_in_chinese(tmp_path):
    result = CliRunner().invoke(app, ["addin", "build", "-o", str(tmp_path / "plugin.xlam")])
    assert result.exit_code == 1
    assert "错误" in result.output and "nianbao.xlam" in result.output
