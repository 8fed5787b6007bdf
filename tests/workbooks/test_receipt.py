from datetime import datetime

from openpyxl import load_workbook

from nianbao.validate import check_file
from rule_fixtures import FIXTURES, PERIOD, TOWN, base_values
from nianbao.workbooks.receipt import ReceiptInfo, write_receipt
from nianbao.workbooks.sample import fill_template, save_as_xls
from nianbao.workbooks.template import write_template


def info(**kw) -> ReceiptInfo:
    base = dict(township_name=TOWN.name, period=PERIOD, file_name="x.xlsx", sha256="ab" * 32, received_at=datetime(2026, 1, 10, 9, 30), accepted=True)
    return ReceiptInfo(**{**base, **kw})


def receipt_text(path) -> list:
    return [c.value for row in load_workbook(path)["回执"].iter_rows() for c in row if c.value is not None]


def test_clean_return_gets_a_receipt_sheet_only(tmp_path):
    src = fill_template(write_template(tmp_path / "t.xlsx", TOWN, PERIOD), base_values(), tmp_path / "ok.xlsx")
    report = check_file(src).report
    out = write_receipt(src, report, info(), tmp_path / "r.xlsx")
    assert load_workbook(out).sheetnames == ["回执"]
    text = receipt_text(out)
    assert "已接收" in text and "报表已接收，未发现问题。" in text and "ab" * 32 in text


def test_errors_are_marked_red_with_comments_and_ledger_masked(tmp_path):
    values = next(f for f in FIXTURES if f.code == "ledger.id_number").values()
    src = fill_template(write_template(tmp_path / "t.xlsx", TOWN, PERIOD), values, tmp_path / "bad.xlsx")
    report = check_file(src).report
    (finding,) = report.findings
    out = write_receipt(src, report, info(accepted=False), tmp_path / "r.xlsx")
    wb = load_workbook(out)
    assert wb.sheetnames[0] == "回执" and wb.active.title == "回执"
    cell = wb[finding.sheet][finding.cell]
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")
    assert finding.message in cell.comment.text
    assert "退回" in receipt_text(out)
    id_number, name = values["ledger"][1]["id_number"], values["ledger"][1]["name"]
    ledger_values = {c.value for row in wb[finding.sheet].iter_rows() for c in row}
    assert id_number not in ledger_values and name not in ledger_values
    assert id_number[:4] + "*" * 10 + id_number[-4:] in ledger_values


def test_xls_return_and_county_decision(tmp_path):
    values = next(f for f in FIXTURES if f.code == "le.A02").values()
    xlsx = fill_template(write_template(tmp_path / "t.xlsx", TOWN, PERIOD), values, tmp_path / "bad.xlsx")
    xls = save_as_xls(xlsx, tmp_path / "bad.xls")
    report = check_file(xls).report
    out = write_receipt(xls, report, info(accepted=False, decision="退回", reason="请核实法人单位数"), tmp_path / "r.xlsx")
    assert load_workbook(out).sheetnames == ["回执"]
    text = receipt_text(out)
    assert "退回：请核实法人单位数" in text
    assert any(isinstance(t, str) and t.startswith("「主要指标」") for t in text)
