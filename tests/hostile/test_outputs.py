"""Text from a file never becomes a formula, a control sequence, an unmasked ID number or name,
or a path in any output: master workbook, receipts, database, console, --json, logs, artifacts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from nianbao import pipeline
from nianbao.cli import app
from nianbao.schemas.county import load_county
from nianbao.schemas.privacy import mask_id
from nianbao.summary import findings_table, summary_markdown
from nianbao.workbooks.receipt import receipt_name, receipt_path
from nianbao.workbooks.safe_text import safe_filename, safe_text, safe_value
from nianbao.workbooks.sample import fill_workbook, sample_return
from nianbao.workbooks.template import build_template

from hostile_support import PERIOD, all_output_texts, formula_cells, settings_for

FORMULAS = ['=HYPERLINK("http://evil.example","点我")', "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "+1-555-0100"]


def hostile_return(root: Path) -> tuple[Path, list[str], list[str]]:
    """A return carrying formulas as text and personal data in the wrong places; returns
    (path, ledger names, ID numbers)."""
    county = load_county(root / "county.toml")
    town = county.townships[4]
    values = sample_return(town, PERIOD, seed=5, roster_rows=6, ledger_rows=3)
    ledger = values["ledger"]
    names, ids = [r["name"] for r in ledger], [r["id_number"] for r in ledger]
    values["cover"]["filler"] = f"{names[0]}（{ids[0]}）"  # the filler's name field holds a person
    values["cover"]["head"] = FORMULAS[0]
    values["roster"][0]["name"] = FORMULAS[1]
    values["roster"][1]["name"] = FORMULAS[2]
    values["roster"][2]["name"] = f"{names[1]}个体户{ids[1]}"  # personal data in free text
    values["summary"]["A14"] = "十二"  # a finding, so the receipt carries a marked copy
    wb = fill_workbook(build_template(town, PERIOD), values)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value in FORMULAS:
                    c.data_type = "s"  # typed as text, as a township would
    wb["封面"]["H30"] = f"备注：{names[2]} {ids[2]}"  # anywhere on any sheet
    path = root / "inbox" / f"{town.name}{ids[0]}.xlsx"  # and in the file name
    wb.save(path)
    return path, names, ids


def leaks(texts, names, ids) -> list:
    return [(where, t) for where, t in texts if any(n in t for n in names) or any(i in t for i in ids)]


def test_no_formula_and_no_personal_data_in_any_output(root, caplog):
    path, names, ids = hostile_return(root)
    caplog.set_level(logging.DEBUG)
    result = pipeline.run_once(settings_for(root), PERIOD)

    assert formula_cells(root) == []
    texts = all_output_texts(root)
    assert leaks(texts, names, ids) == []
    assert leaks([("log", r.getMessage()) for r in caplog.records], names, ids) == []
    c = result.consolidation
    artifact = json.dumps(findings_table(c), ensure_ascii=False) + summary_markdown(c, result)
    assert leaks([("artifact", artifact)], names, ids) == []
    # Not vacuous: the hostile text is there, masked and literal.
    joined = "\n".join(t for _, t in texts)
    assert mask_id(ids[0]) in joined and "'" + FORMULAS[1] in joined
    town = load_county(root / "county.toml").townships[4]
    receipt = root / "outbox" / receipt_name(town.code, town.name, PERIOD)
    wb = load_workbook(receipt)
    assert wb["封面"]["H30"].value == f"备注：{names[2][0]}{'*' * (len(names[2]) - 1)} {mask_id(ids[2])}"
    assert any(v.startswith("'=HYPERLINK") for _, v in texts if isinstance(v, str))


def test_console_and_json_are_masked_and_free_of_markup(root):
    path, names, ids = hostile_return(root)
    runner = CliRunner()
    for args in (["validate", str(path)], ["validate", "--json", str(path)]):
        out = runner.invoke(app, args)
        assert out.exit_code == 1, out.output
        assert leaks([("console", out.output)], names, ids) == [], out.output
        assert mask_id(ids[0]) in out.output


@pytest.mark.parametrize(
    "text",
    ["../../etc/passwd", "/etc/cron.d/x", "C:\\Windows\\x", "D:evil", "a\x00b", "CON", "aux", "NUL.txt", "COM1", "LPT9.xlsx",
     "x" * 500, "..", "", " . ", "a/../../b", "\u202eevil", "名字\r\n换行"],
)
def test_receipt_paths_stay_inside_the_outbox(tmp_path, text):
    outbox = tmp_path / "outbox"
    path = receipt_path(outbox, receipt_name(text, text, text))
    assert path.parent == outbox
    assert len(path.name) <= 200 and "\x00" not in path.name and "/" not in path.name and "\\" not in path.name
    stem = path.name.split(".")[0].upper()
    assert stem not in {"CON", "AUX", "NUL", "COM1", "LPT9"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # a real file system accepts the name
    assert safe_filename(text) and ".." not in safe_filename(text)


def test_files_naming_no_township_get_safe_generated_receipt_names(root):
    county = load_county(root / "county.toml")
    town = county.townships[5]
    values = sample_return(town, PERIOD, seed=1, roster_rows=6, ledger_rows=3)
    values["cover"]["township_code"] = "../../../tmp/evil"
    fill_workbook(build_template(town, PERIOD), values).save(root / "inbox" / "CON..\\..\\x.xlsx")
    (root / "inbox" / ("长" * 80 + ".xlsx")).write_bytes(b"PK\x03\x04 broken")
    pipeline.run_once(settings_for(root), PERIOD)
    outbox = root / "outbox"
    names = sorted(p.name for p in outbox.iterdir())
    assert all(p.parent == outbox for p in outbox.iterdir())
    unknown = [n for n in names if n.startswith("未识别_")]
    assert len(unknown) == 2 and all(len(n) < 80 and "\\" not in n for n in unknown)
    assert not list(root.parent.rglob("evil*"))


def test_safe_text_neutralises_formulas_and_drops_illegal_characters():
    assert safe_text("=1+1") == "'=1+1"
    for start in "=+-@\t\r":
        assert safe_text(start + "x").startswith("'")
    assert safe_text("a\x00b\x07c\x1bd\ufffe") == "abcd"
    assert safe_text("正常文字") == "正常文字"
    assert safe_value(-5) == -5 and safe_value(None) is None


def test_ledger_found_by_its_headers_is_masked_when_names_were_deleted_and_rows_inserted(root):
    county = load_county(root / "county.toml")
    town = county.townships[6]
    values = sample_return(town, PERIOD, seed=6, roster_rows=6, ledger_rows=3)
    values["summary"]["A14"] = "十二"
    ledger = values["ledger"]
    wb = fill_workbook(build_template(town, PERIOD), values)
    for name in list(wb.defined_names):
        del wb.defined_names[name]
    wb["困难职工帮扶台账"].insert_rows(1, 2)
    wb["基层工会名册"]["A40"] = f"联系人{ledger[0]['name']}"  # a ledger name on another sheet
    wb.save(root / "inbox" / "删除名称.xlsx")
    pipeline.run_once(settings_for(root), PERIOD)
    receipt = root / "outbox" / receipt_name(town.code, town.name, PERIOD)
    texts = [(c, str(v)) for c, v in ((f"{ws.title}!{c.coordinate}", c.value) for ws in load_workbook(receipt) for r in ws.iter_rows() for c in r) if v is not None]
    assert leaks(texts, [r["name"] for r in ledger], [r["id_number"] for r in ledger]) == []
    assert any(mask_id(ledger[1]["id_number"]) == v for _, v in texts)


def test_stale_temporary_files_of_a_killed_run_are_removed_at_the_next_start(root):
    for folder in ("out", "outbox"):
        (root / folder).mkdir()
        (root / folder / ".~清河县2025工会年报汇总.0123456789ab.xlsx.tmp").write_bytes(b"half a workbook")
    (root / "outbox" / "说明.txt").write_text("not ours")
    pipeline.run_once(settings_for(root), PERIOD)
    assert not list(root.rglob(".~*")) and (root / "outbox" / "说明.txt").exists()


def test_the_return_reported_upward_writes_unit_names_as_literal_text(tmp_path):
    from nianbao.report_up import literal

    values = {"cover": {"township_name": "清河县", "fill_date": None}, "summary": {"A01": 3},
              "roster": [{"name": FORMULAS[0], "employees": 5}], "ledger": [], "aid": []}
    out = literal(values)
    assert out["roster"][0]["name"] == "'" + FORMULAS[0] and out["summary"]["A01"] == 3 and out["cover"]["township_name"] == "清河县"
    wb = fill_workbook(build_template(load_county().townships[0], PERIOD), {"roster": out["roster"]})
    wb.save(tmp_path / "up.xlsx")
    assert not [c for ws in load_workbook(tmp_path / "up.xlsx") for r in ws.iter_rows() for c in r if c.value == FORMULAS[0] or (c.data_type == "f" and "evil" in str(c.value))]
