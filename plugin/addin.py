"""Build the county Excel add-in (ribbon tab 工会年报, button 刷新汇总) from xlwings' template.

How ``xlwings quickstart NAME --addin --ribbon`` makes a project (xlwings/cli.py, ``quickstart``):
it writes ``NAME/NAME.py`` with a ``main()`` and *copies* ``quickstart_addin_ribbon.xlam`` from
the xlwings package to ``NAME/NAME.xlam``, unchanged. Renaming the copy is the only thing it does
to the file, and that is enough because of how the template's VBA works:

* The ribbon button (``customUI/customUI.xml``) has ``onAction="RibbonMyAddin.RunMain"``. The VBA
  module ``RibbonMyAddin`` (inside ``xl/vbaProject.bin``) derives the Python module from the
  add-in's own file name::

      mymodule = Left(ThisWorkbook.Name, InStrRev(ThisWorkbook.Name, ".") - 1)
      RunPython "import " & mymodule & ";" & mymodule & ".main()"

  So the module name is not stored anywhere editable: it is the file name. We name the output
  ``nianbao.xlam``, after the project's one import package; the button then runs
  ``import nianbao;nianbao.main()`` (:func:`nianbao.main` hands over to
  :func:`nianbao.plugin.refresh.main`). :func:`build_addin` refuses any other file name.

* Everything else in the VBA is hard-coded to the name ``myaddin``: the ``xlwings`` module has
  ``Public Const PROJECT_NAME As String = "myaddin"``, the VBA project is called ``MyAddin`` and the
  ribbon callback module ``RibbonMyAddin``. xlwings' custom add-in docs rename these by hand in the
  VBA editor; we do not, so that ``xl/vbaProject.bin`` stays byte-for-byte as xlwings ships it.
  What the user sees (tab, group and button labels) lives in the customUI XML, which we edit.

How the template stores its configuration: a (hidden, since the workbook is an add-in) worksheet
whose name must be ``PROJECT_NAME & ".conf"``, i.e. ``myaddin.conf``. Keys are in column A from A1
down (``Interpreter_Win``, ``Interpreter_Mac``, ``PYTHONPATH``, ``Conda Path``, ``Conda Env``,
``UDF Modules``, ``Debug UDFs``, ``Use UDF Server``, ``Show Console``), values in column B. VBA's
``GetConfigFromSheet`` reads A1 to the last contiguous key and upper-cases the keys; ``GetConfig``
asks for ``INTERPRETER_WIN``/``INTERPRETER_MAC``/``PYTHONPATH``. The template ships this sheet
*disabled* by naming it ``_myaddin.conf`` (xlwings' docs: "activate the sheet config by renaming
it"). The key strings live in ``xl/sharedStrings.xml``; the cells in the worksheet part.

Our edits, all on XML parts, everything else copied unchanged (same order, dates, compression):

* ``customUI/customUI.xml``: tab/group/button ids and labels, screentip, icon; ``onAction`` kept.
* ``xl/workbook.xml``: rename sheet ``_myaddin.conf`` to ``myaddin.conf`` (activates it).
* ``xl/sharedStrings.xml``: append the interpreter string.
* the config worksheet part (``xl/worksheets/sheet1.xml``): add B cells for ``Interpreter_Win``
  and ``Interpreter_Mac`` (both the given interpreter; the one for the other platform is
  ignored). ``PYTHONPATH`` stays empty: the interpreter imports ``nianbao`` from its own
  site-packages. A project folder on ``PYTHONPATH`` would even break an ordinary install,
  because the repository's ``nianbao/`` folder holds only the core modules and would shadow the
  installed package.

The XML is edited as text with exact, counted substitutions rather than re-serialised: Excel is
strict about namespace prefixes that ``mc:Ignorable`` names, which ElementTree would drop. Any
drift in a future xlwings template makes the build fail loudly instead of producing a broken file.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePosixPath
from xml.sax.saxutils import escape, quoteattr

MODULE_NAME = "nianbao"
ADDIN_FILENAME = f"{MODULE_NAME}.xlam"
TEMPLATE_FILENAME = "quickstart_addin_ribbon.xlam"

TAB_LABEL = "工会年报"
GROUP_LABEL = "年报汇总"
BUTTON_LABEL = "刷新汇总"
BUTTON_SUPERTIP = "刷新当前打开的汇总工作簿。"
BUTTON_IMAGE = "RefreshAll"

# Fixed by the template's VBA (see module docstring); we must match, not choose, these.
TEMPLATE_ON_ACTION = "RibbonMyAddin.RunMain"
DISABLED_CONFIG_SHEET = "_myaddin.conf"
CONFIG_SHEET = "myaddin.conf"

VBA_PART = "xl/vbaProject.bin"
CUSTOM_UI_PART = "customUI/customUI.xml"
WORKBOOK_PART = "xl/workbook.xml"

_NS_CUSTOMUI = "http://schemas.microsoft.com/office/2006/01/customui"
_NS_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_REL_SHARED_STRINGS = _NS_R + "/sharedStrings"


class TemplateChangedError(RuntimeError):
    """The xlwings template no longer looks the way this builder expects."""


def template_path() -> Path:
    """The ribbon add-in template shipped inside the installed xlwings package."""
    spec = importlib.util.find_spec("xlwings")
    if spec is None or not spec.submodule_search_locations:
        raise TemplateChangedError("未安装 xlwings，无法找到加载项模板。")
    path = Path(next(iter(spec.submodule_search_locations))) / TEMPLATE_FILENAME
    if not path.is_file():
        raise TemplateChangedError(f"xlwings 中缺少加载项模板：{path}")
    return path


def edited_parts(template: Path | None = None) -> frozenset[str]:
    """Zip members :func:`build_addin` rewrites; every other member is copied unchanged."""
    with zipfile.ZipFile(template or template_path()) as z:
        sheet_part, sst_part = _config_parts(z)
    return frozenset({CUSTOM_UI_PART, WORKBOOK_PART, sheet_part, sst_part})


def build_addin(out: Path, interpreter: str) -> Path:
    """Write the add-in to ``out`` and return its resolved path.

    ``out`` must be named ``nianbao.xlam`` (or be an existing directory to put it in), because
    the template's VBA imports the module named like the file. ``interpreter`` is stored as-is
    (it may be a path on the machine that will run Excel); when it is a program on this machine,
    it must be able to import ``nianbao``, or the button would fail on its first press.
    """
    out = Path(out)
    if out.is_dir():
        out = out / ADDIN_FILENAME
    if out.name != ADDIN_FILENAME:
        raise ValueError(
            f"加载项文件名必须是 {ADDIN_FILENAME}（Excel 按钮按文件名执行 "
            f"“import {MODULE_NAME}; {MODULE_NAME}.main()”），当前为：{out.name}"
        )
    interpreter = str(interpreter).strip()
    if not interpreter or not _is_xml_safe(interpreter):
        raise ValueError(f"--interpreter 应为非空且不含控制字符的 Python 路径，当前为：{interpreter!r}")
    _check_interpreter(interpreter)
    config = {"Interpreter_Win": interpreter, "Interpreter_Mac": interpreter}

    with zipfile.ZipFile(template_path()) as src:
        sheet_part, sst_part = _config_parts(src)
        sheet_xml, sst_xml = _set_config_values(
            src.read(sheet_part).decode("utf-8"), src.read(sst_part).decode("utf-8"), config
        )
        replacements = {
            CUSTOM_UI_PART: _edit_custom_ui(src.read(CUSTOM_UI_PART).decode("utf-8")),
            WORKBOOK_PART: _enable_config_sheet(src.read(WORKBOOK_PART).decode("utf-8")),
            sheet_part: sheet_xml,
            sst_part: sst_xml,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{MODULE_NAME}-", suffix=".xlam.tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as dst:
                for info in src.infolist():
                    data = replacements.get(info.filename)
                    payload = src.read(info) if data is None else data.encode("utf-8")
                    dst.writestr(_copy_info(info), payload)
            os.replace(tmp_name, out)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    return out.resolve()


def _check_interpreter(interpreter: str) -> None:
    """Refuse a local Python that cannot import the add-in's code; skip one for another machine."""
    if not (os.path.isfile(interpreter) and os.access(interpreter, os.X_OK)):
        return
    probe = [interpreter, "-c", f"import importlib.util, sys; sys.exit(importlib.util.find_spec('{MODULE_NAME}.plugin') is None)"]
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=60, cwd=tempfile.gettempdir()).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        raise ValueError(
            f"--interpreter 指定的 Python 无法导入 {MODULE_NAME}：{interpreter}。"
            f"请先用它安装本项目（{interpreter} -m pip install …），或改用已安装本项目的 Python"
        )


# --- zip helpers -------------------------------------------------------------------------------


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A fresh ZipInfo with the template member's name, date, compression and attributes."""
    new = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    new.compress_type = info.compress_type
    new.external_attr = info.external_attr
    new.create_system = info.create_system
    new.extra = info.extra
    return new


def _config_parts(z: zipfile.ZipFile) -> tuple[str, str]:
    """Zip paths of the config worksheet and the shared-strings part, resolved via the rels."""
    wb = ET.fromstring(z.read(WORKBOOK_PART))
    rid = None
    for sheet in wb.iter(f"{{{_NS_MAIN}}}sheet"):
        if sheet.get("name") in (DISABLED_CONFIG_SHEET, CONFIG_SHEET):
            rid = sheet.get(f"{{{_NS_R}}}id")
    if rid is None:
        raise TemplateChangedError(f"模板中找不到配置表 {DISABLED_CONFIG_SHEET}")
    rels_part = "xl/_rels/workbook.xml.rels"
    rels = ET.fromstring(z.read(rels_part))
    sheet_part = sst_part = None
    for rel in rels.iter(f"{{{_NS_PKG_RELS}}}Relationship"):
        target = str(PurePosixPath("xl") / rel.get("Target", ""))
        if rel.get("Id") == rid:
            sheet_part = target
        if rel.get("Type") == _REL_SHARED_STRINGS:
            sst_part = target
    if sheet_part is None or sst_part is None:
        raise TemplateChangedError(f"模板 {rels_part} 中缺少配置表或共享字符串关系")
    return sheet_part, sst_part


# --- XML edits ---------------------------------------------------------------------------------


def _is_xml_safe(text: str) -> bool:
    return not any(ord(ch) < 0x20 for ch in text)


def _sub_once(pattern: str, repl, text: str, what: str) -> str:
    new, n = re.subn(pattern, repl, text, count=2)
    if n != 1:
        raise TemplateChangedError(f"xlwings 模板结构已变化：{what}（匹配 {n} 处）")
    return new


def _set_attr(element_xml: str, name: str, value: str) -> str:
    """Set (replace or add) one attribute on a single start tag given as text."""
    attr = f"{name}={quoteattr(value)}"
    pattern = rf"(\s){name}=\"[^\"]*\""
    if re.search(pattern, element_xml):
        return re.sub(pattern, lambda m: m.group(1) + attr, element_xml, count=1)
    return re.sub(r"\s*(/?>)$", lambda m: f" {attr}{m.group(1)}", element_xml, count=1)


def _edit_custom_ui(xml: str) -> str:
    root = ET.fromstring(xml)
    buttons = list(root.iter(f"{{{_NS_CUSTOMUI}}}button"))
    if len(buttons) != 1 or buttons[0].get("onAction") != TEMPLATE_ON_ACTION:
        raise TemplateChangedError(f"ribbon 按钮的 onAction 不是 {TEMPLATE_ON_ACTION}")
    edits = {
        "tab": {"id": "nianbaoTab", "label": TAB_LABEL},
        "group": {"id": "nianbaoRefreshGroup", "label": GROUP_LABEL},
        "button": {
            "id": "nianbaoRefreshButton",
            "label": BUTTON_LABEL,
            "screentip": BUTTON_LABEL,
            "supertip": BUTTON_SUPERTIP,
            "imageMso": BUTTON_IMAGE,
        },
    }
    for tag, attrs in edits.items():

        def edit(m: re.Match, attrs=attrs) -> str:
            start = m.group(0)
            for name, value in attrs.items():
                start = _set_attr(start, name, value)
            return start

        xml = _sub_once(rf"<{tag}\b[^>]*>", edit, xml, f"customUI <{tag}>")
    return xml


def _enable_config_sheet(xml: str) -> str:
    return _sub_once(
        rf'(<sheet\b[^>]*\bname=")({re.escape(DISABLED_CONFIG_SHEET)})(")',
        lambda m: m.group(1) + CONFIG_SHEET + m.group(3),
        xml,
        f"工作簿中的 {DISABLED_CONFIG_SHEET} 表",
    )


def _set_config_values(sheet_xml: str, sst_xml: str, values: dict[str, str]) -> tuple[str, str]:
    """Put each value in column B next to its key in column A; strings go to sharedStrings."""
    sst = ET.fromstring(sst_xml)
    strings = ["".join(si.itertext()) for si in sst.findall(f"{{{_NS_MAIN}}}si")]
    index = {text: i for i, text in enumerate(strings)}

    new_strings: list[str] = []
    for key, value in values.items():
        key_idx = [i for i, s in enumerate(strings) if s.upper() == key.upper()]
        if len(key_idx) != 1:
            raise TemplateChangedError(f"配置表中找不到键 {key}")
        cell = re.search(rf'<c r="A(\d+)"[^>]*\bt="s"[^>]*><v>{key_idx[0]}</v></c>', sheet_xml)
        if cell is None:
            raise TemplateChangedError(f"配置表 A 列中找不到键 {key}")
        row = cell.group(1)
        if re.search(rf'<c r="B{row}"', sheet_xml):
            raise TemplateChangedError(f"配置表 B{row} 已有值，模板结构已变化")
        if value not in index:
            index[value] = len(strings) + len(new_strings)
            new_strings.append(value)
        b_cell = f'<c r="B{row}" s="1" t="s"><v>{index[value]}</v></c>'
        sheet_xml = sheet_xml[: cell.end()] + b_cell + sheet_xml[cell.end() :]
        sheet_xml = _sub_once(
            rf'(<row r="{row}"[^>]*\bspans=")1:1(")',
            lambda m: m.group(1) + "1:2" + m.group(2),
            sheet_xml,
            f"配置表第 {row} 行",
        )

    preserve = ' xml:space="preserve"'
    items = "".join(
        f"<si><t{preserve if s != s.strip() else ''}>{escape(s)}</t></si>" for s in new_strings
    )
    sst_xml = _sub_once(r"</sst>\s*$", lambda m: items + "</sst>", sst_xml, "sharedStrings 结尾")
    for attr, extra in (("count", len(values)), ("uniqueCount", len(new_strings))):
        sst_xml = _sub_once(
            rf'(<sst\b[^>]*\b{attr}=")(\d+)(")',
            lambda m, extra=extra: f"{m.group(1)}{int(m.group(2)) + extra}{m.group(3)}",
            sst_xml,
            f"sharedStrings {attr}",
        )
    return sheet_xml, sst_xml
