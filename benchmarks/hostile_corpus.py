"""The project's own corpus of mistaken and hostile files, run through validate and a real run.

    .venv/bin/python benchmarks/hostile_corpus.py [--dir DIR] [--bomb-gib 1]

Builds ~60 files of the classes issue 8 names (numbers that are not numbers, cover fields in the
wrong form, formulas and control text, personal data in the wrong places, broken structure,
resource bombs, the wrong kinds of files) beside valid returns, then prints:

  files tried, crashes (an exception out of ``check_file``), hangs (over 60 s), lost returns
  (a valid return not accepted by the run), formulas or formula-like text in any output
  workbook, unmasked personal values (every ledger name and ID number of the corpus searched
  in every output cell, comment, sheet title, file name and database value), and the peak
  memory of the whole ``nianbao.pipeline.run_once`` over the inbox (1-GiB bomb included).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import copy
import resource
import shutil
import signal
import sqlite3
import sys
import tempfile
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from nianbao.pipeline import run_once
from nianbao.schemas.county import DEMO_CONFIG, load_county
from nianbao.schemas.privacy import ID_SHAPE
from nianbao.settings import Settings
from nianbao.validate import check_file
from nianbao.workbooks.safe_text import is_formula_like
from nianbao.workbooks.sample import fill_workbook, sample_return, save_as_ods, save_as_xls
from nianbao.workbooks.template import build_template

PERIOD = "2025"


def build(inbox: Path, bomb_gib: float) -> tuple[list[str], dict[str, set[str]], set[str]]:
    """Write the corpus; returns (names of the valid returns, ledger names by file, ID numbers).

    Names are kept per file: a sample name may be a ledger person in one file and, by chance,
    the filler in another, which is no leak."""
    county = load_county(DEMO_CONFIG)
    towns = county.townships
    names: dict[str, set[str]] = {}
    ids: set[str] = set()
    valid: list[str] = []
    n = 0

    def base(i: int) -> dict:
        values = sample_return(towns[i % len(towns)], PERIOD, seed=100 + i, roster_rows=6, ledger_rows=3)
        ids.update(r["id_number"] for r in values["ledger"])
        return values

    def save(name: str, values: dict, town_index: int, edit=None) -> Path:
        nonlocal n
        names[name] = {r["name"] for r in values["ledger"]}
        wb = fill_workbook(build_template(towns[town_index % len(towns)], PERIOD), values)
        if edit:
            edit(wb, values)
        path = inbox / name
        wb.save(path)
        n += 1
        return path

    for i in range(3):  # valid returns that must never be lost
        valid.append(save(f"有效{i}.xlsx", base(i), i).name)
    mutations = {
        "数字1e308": ("summary", "A14", 1e308), "数字1e400文本": ("summary", "F03", "1e400"), "NaN文本": ("summary", "A14", "NaN"),
        "inf文本": ("summary", "A14", "inf"), "大整数": ("summary", "A14", 10**30), "身份证号在计数": ("summary", "A14", "410102199001011234"),
        "身份证号数字": ("summary", "A14", 410102199001011234), "信用代码在计数": ("summary", "A14", "91410100MA12345678"),
        "DIV0": ("summary", "A14", "#DIV/0!"), "REF": ("summary", "C01", "#REF!"), "NA": ("summary", "A14", "#N/A"),
        "VALUE": ("summary", "F03", "#VALUE!"), "NAME": ("summary", "A14", "#NAME?"), "上限": ("summary", "A07", 10**9),
        "报告期2025年": ("cover", "period", "2025年"), "报告期小数": ("cover", "period", 2025.5), "报告期中文": ("cover", "period", "二〇二五"),
        "日期自由文本": ("cover", "fill_date", "今年一月"), "代码有空格": ("cover", "township_code", "4199 01 100"),
        "外县代码": ("cover", "township_code", "110101001"), "代码路径": ("cover", "township_code", "../../../etc/passwd"),
        "代码CON": ("cover", "township_code", "CON"), "公式名称": ("cover", "township_name", '=HYPERLINK("http://x","y")'),
        "加号负责人": ("cover", "head", "+cmd|' /C calc'!A0"), "减号": ("cover", "filler", "-2+3"), "at": ("cover", "filler", "@SUM(1)"),
        "制表符": ("cover", "filler", "\t=1+1"), "回车": ("cover", "filler", "\r=1+1"), "超长文本": ("cover", "filler", "长" * 32000),
        "方向控制": ("cover", "filler", "\u202e年报\u202c"), "rich标记": ("cover", "filler", "[red]红[/red][link=file:///etc]x[/link]"),
    }
    for i, (label, (section, key, value)) in enumerate(mutations.items(), start=3):
        values = base(i)
        values[section][key] = value
        formula_text = isinstance(value, str) and value.startswith("=")

        def as_text(wb, _v, key=key, value=value, formula_text=formula_text):
            for ws in wb.worksheets:
                for row in ws.iter_rows():
                    for c in row:
                        if formula_text and c.value == value:
                            c.data_type = "s"

        save(f"{label}.xlsx", values, i, as_text)
    # personal data in the wrong places
    values = base(40)
    person = values["ledger"][0]
    values["cover"]["filler"] = f"{person['name']}{person['id_number']}"
    values["roster"][0]["name"] = f"{values['ledger'][1]['name']}个体户"
    save(f"城关镇{person['id_number']}.xlsx", values, 40, lambda wb, v: wb["封面"].cell(40, 8, f"备注{v['ledger'][2]['id_number']}"))

    def no_names(wb, _v):
        for name in list(wb.defined_names):
            del wb.defined_names[name]

    save("删除名称.xlsx", base(41), 41, no_names)
    save("插入行.xlsx", base(42), 42, lambda wb, v: wb["困难职工帮扶台账"].insert_rows(2, 3))
    save("公式无值.xlsx", base(43), 43, lambda wb, v: wb["主要指标"].cell(4, 4, "=1+1"))
    # structure and bombs
    save("删除工作表.xlsx", base(44), 44, lambda wb, v: wb.remove(wb["主要指标"]))
    save("改名工作表.xlsx", base(45), 45, lambda wb, v: setattr(wb["主要指标"], "title", "指标"))
    save("巨大区域.xlsx", base(46), 46, lambda wb, v: wb["主要指标"].cell(1048576, 16384, 1))
    save("行数过多.xlsx", base(47), 47, lambda wb, v: wb["基层工会名册"].cell(30000, 1, "x"))
    xlsx = save("另存xls源.xlsx", base(48), 48)
    save_as_xls(xlsx, inbox / "旧格式.xls")
    save_as_ods(xlsx, inbox / "开放格式.ods")
    xlsx.unlink()
    (inbox / "空文件.xlsx").write_bytes(b"")
    (inbox / "随机字节.xlsx").write_bytes(bytes(range(256)) * 40)
    (inbox / "截断.xlsx").write_bytes((inbox / "有效0.xlsx").read_bytes()[:3000])
    (inbox / "加密.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le") * 50)
    with zipfile.ZipFile(inbox / "Word改名.xlsx", "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    chunk = b"\0" * (16 * 1024**2)
    with zipfile.ZipFile(inbox / "炸弹.xlsx", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            for _ in range(int(bomb_gib * 1024**3) // len(chunk)):
                part.write(chunk)
    import xlwt

    sparse = xlwt.Workbook()
    sparse.add_sheet("主要指标").write(65535, 255, 1)
    sparse.save(inbox / "稀疏.xls")
    with zipfile.ZipFile(inbox / "重复.ods", "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", "<manifest/>")
        zf.writestr("content.xml", (
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body><office:spreadsheet>'
            '<table:table table:name="主要指标"><table:table-row table:number-rows-repeated="90000">'
            '<table:table-cell table:number-columns-repeated="1000" office:value-type="float" office:value="1"/>'
            "</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"))
    for suffix in (".et", ".ett", ".wps", ".numbers", ".csv", ".pdf", ".jpg", ".png", ".rar"):
        (inbox / f"其他格式{suffix}").write_bytes(f"not a return {suffix}".encode())
    with zipfile.ZipFile(inbox / "打包.zip", "w") as zf:
        zf.write(inbox / "有效1.xlsx", "有效1.xlsx")
    return valid, names, ids


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang


def _receipt_file_name(wb) -> str | None:
    """The file a receipt answers: the value beside its 文件名 label on the 回执 sheet."""
    for row in wb["回执"].iter_rows():
        values = [c.value for c in row if c.value is not None]
        if len(values) >= 2 and values[0] == "文件名":
            return values[1]
    return None


def output_texts(root: Path):
    """(where, value, is a formula cell, the receipt's source file name or None)."""
    for folder in ("out", "outbox"):
        for path in sorted((root / folder).glob("*.xlsx")):
            wb = load_workbook(path)
            source = _receipt_file_name(wb) if folder == "outbox" else None
            yield path.name, path.name, False, source
            for ws in wb.worksheets:
                yield path.name, ws.title, False, source
                for row in ws.iter_rows():
                    for c in row:
                        if c.value is not None:
                            yield f"{path.name}!{ws.title}!{c.coordinate}", c.value, c.data_type == "f", source
                        if c.comment is not None:
                            yield f"{path.name}!{ws.title}!{c.coordinate}#", c.comment.text, False, source
    with sqlite3.connect(root / "nianbao.db") as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            for row in conn.execute(f"SELECT * FROM {table}"):
                for v in row:
                    if v is not None:
                        yield f"db:{table}", str(v), False, None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--bomb-gib", type=float, default=1.0)
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="nianbao-hostile-"))
    shutil.rmtree(root, ignore_errors=True)
    (root / "inbox").mkdir(parents=True)
    valid, names, ids = build(root / "inbox", args.bomb_gib)
    files = sorted(p for p in (root / "inbox").iterdir())
    crashes, hangs = [], []
    signal.signal(signal.SIGALRM, _alarm)
    county = load_county(DEMO_CONFIG)
    for path in files:
        signal.alarm(60)
        try:
            check_file(path, county=county, period=PERIOD)
        except Hang:
            hangs.append(path.name)
        except Exception as exc:
            crashes.append(f"{path.name}: {type(exc).__name__}: {exc}")
        finally:
            signal.alarm(0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    settings = Settings(config=str(DEMO_CONFIG), inbox=str(root / "inbox"), db=f"sqlite:///{root / 'nianbao.db'}",
                        out=str(root / "out"), outbox=str(root / "outbox"))
    try:
        result = run_once(settings, PERIOD)
        run_crash = None
    except Exception as exc:
        result, run_crash = None, f"{type(exc).__name__}: {exc}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    accepted = set(_accepted_files(root))
    lost = [v for v in valid if v not in accepted]
    everyone = set().union(*names.values())
    formulas, stored_as_typed, leaks = [], 0, []
    for where, value, is_formula, source in output_texts(root):
        if is_formula or is_formula_like(value):
            if where.startswith("db:"):  # the database keeps what was typed; it is no spreadsheet
                stored_as_typed += 1
            else:
                formulas.append(f"{where}: {value!r}"[:120])
        text = str(value)
        people = names.get(source, set()) if source is not None else everyone
        if any(n in text for n in people) or any(i in text for i in ids) or ID_SHAPE.search(text):
            leaks.append(f"{where}: {text[:80]!r}")
    print(f"files tried: {len(files)} (valid returns among them: {len(valid)})")
    print(f"crashes in validate: {len(crashes)}", *crashes, sep="\n  ")
    print(f"hangs (> 60 s): {len(hangs)}", *hangs, sep="\n  ")
    print(f"crash of the run: {run_crash or 'none'}")
    print(f"lost returns: {len(lost)}", *lost, sep="\n  ")
    print(f"receipts written: {len(list((root / 'outbox').glob('*.xlsx')))}")
    print(f"formulas or formula-like text in output workbooks: {len(formulas)}", *formulas[:20], sep="\n  ")
    print(f"(formula-like text kept as typed in database values, never written unneutralised: {stored_as_typed})")
    print(f"unmasked personal values in outputs: {len(leaks)}", *leaks[:20], sep="\n  ")
    print(f"peak memory (max RSS of this process; validate pass {before / 1024:.0f} MB, after the run): {peak / 1024:.0f} MB")


def _accepted_files(root: Path) -> list[str]:
    with sqlite3.connect(root / "nianbao.db") as conn:
        return [r[0] for r in conn.execute("SELECT file_name FROM submissions WHERE status = 'accepted'")]


if __name__ == "__main__":
    sys.exit(main())
