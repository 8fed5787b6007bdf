from datetime import datetime

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from nianbao.cli import app
from nianbao.schemas.county import ConfigError, Contact, load_county
from nianbao.schemas.findings import Report, error, warning
from nianbao.validate import check_file
from rule_fixtures import FIXTURES, PERIOD, TOWN, base_values
from nianbao.workbooks import layout as L
from nianbao.workbooks.receipt import ReceiptInfo, write_receipt
from nianbao.workbooks.receipt_sheet import ALL_FINDINGS_SHEET, LISTED, NOT_A_RETURN, WHAT_TO_DO
from nianbao.workbooks.sample import fill_template, save_as_xls
from nianbao.workbooks.template import write_template

CONTACT = Contact(unit="清河县总工会", name="王红", phone="0371-12345678")


def info(**kw) -> ReceiptInfo:
    base = dict(township_name=TOWN.name, period=PERIOD, file_name="x.xlsx", sha256="ab" * 32, received_at=datetime(2026, 1, 10, 9, 30), accepted=True)
    return ReceiptInfo(**{**base, **kw})


def receipt_text(path) -> list:
    return [c.value for row in load_workbook(path)["回执"].iter_rows() for c in row if c.value is not None]


def facts(path) -> dict:
    """Label (column A) -> value (column C) on the 回执 sheet."""
    return {r[0]: r[2] for r in load_workbook(path)["回执"].iter_rows(values_only=True) if r and r[0] and r[2] is not None}


@pytest.fixture(scope="module")
def returned(tmp_path_factory):
    """A return with a bad ID number in the ledger, its report and its receipt (退回)."""
    tmp_path = tmp_path_factory.mktemp("returned")
    values = next(f for f in FIXTURES if f.code == "ledger.id_number").values()
    src = fill_template(write_template(tmp_path / "t.xlsx", TOWN, PERIOD), values, tmp_path / "bad.xlsx")
    report = check_file(src).report
    out = write_receipt(src, report, info(accepted=False, contact=CONTACT), tmp_path / "r.xlsx")
    return values, report, out


def test_clean_return_gets_a_receipt_sheet_only(tmp_path):
    src = fill_template(write_template(tmp_path / "t.xlsx", TOWN, PERIOD), base_values(), tmp_path / "ok.xlsx")
    report = check_file(src).report
    out = write_receipt(src, report, info(), tmp_path / "r.xlsx")
    assert load_workbook(out).sheetnames == ["回执"]
    text = receipt_text(out)
    assert "通过" in text and "怎么办：" + WHAT_TO_DO["通过"] in text and "ab" * 32 in text
    assert "如有疑问，请与县总工会联系。" in text  # no contact in the config


def test_errors_are_marked_red_with_comments_and_ledger_masked(returned):
    values, report, out = returned
    (finding,) = report.findings
    wb = load_workbook(out)
    assert wb.sheetnames[0] == "回执" and wb.active.title == "回执"
    cell = wb[finding.sheet][finding.cell]
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")
    assert finding.message in cell.comment.text
    assert facts(out)["审核结论"] == "退回"
    id_number, name = values["ledger"][1]["id_number"], values["ledger"][1]["name"]
    ledger_values = {c.value for row in wb[finding.sheet].iter_rows() for c in row}
    assert id_number not in ledger_values and name not in ledger_values
    assert id_number[:4] + "*" * 10 + id_number[-4:] in ledger_values


def test_returned_receipt_says_what_to_do_and_whom_to_call(returned):
    _, report, out = returned
    text = receipt_text(out)
    todo = next(t for t in text if isinstance(t, str) and t.startswith("怎么办："))
    assert "在您原来的报表文件上修改后重新报送" in todo and "不要报送本回执" in todo
    assert CONTACT.line in text
    assert facts(out)["问题"] == "错误 1 处，提示 0 处"
    (finding,) = report.findings
    row = next(r for r in load_workbook(out)["回执"].iter_rows(values_only=True) if r[0] == 1)
    assert row[1:] == ("错误", finding.sheet, finding.cell, finding.message)


def test_every_sheet_of_the_copy_is_marked_not_a_return(returned):
    _, _, out = returned
    wb = load_workbook(out)
    copied = [ws for ws in wb.worksheets if ws.title != "回执"]
    assert {ws.title for ws in copied} >= set(L.DATA_SHEETS)
    for ws in copied:
        if ws.title == L.SHEET_META:
            meta = {r[0]: r[1] for r in ws.iter_rows(values_only=True)}
            assert meta[L.META_RECEIPT[0]] == L.META_RECEIPT[1]
            continue
        assert ws.oddHeader.center.text.startswith(NOT_A_RETURN), ws.title  # on every printed page
        assert ws["A1"].value.startswith("【回执附件，不是报表，请勿报送】"), ws.title
        assert ws.sheet_properties.tabColor.rgb.endswith("C00000")


def test_copy_of_a_return_without_page_setup_prints_one_page_wide(tmp_path):
    values = next(f for f in FIXTURES if f.code == "le.A02").values()
    src = fill_template(write_template(tmp_path / "t.xlsx", TOWN, PERIOD), values, tmp_path / "bad.xlsx")
    wb = load_workbook(src)
    for ws in wb.worksheets:  # as an older template or another tool would have it
        ws.sheet_properties.pageSetUpPr.fitToPage = False
        ws.oddHeader.center.text = None
    wb.save(src)
    out = write_receipt(src, check_file(src).report, info(accepted=False), tmp_path / "r.xlsx")
    summary = load_workbook(out)[L.SHEET_SUMMARY]
    assert summary.sheet_properties.pageSetUpPr.fitToPage and summary.page_setup.fitToWidth == 1
    assert summary.oddHeader.center.text == f"{NOT_A_RETURN}｜{L.SHEET_SUMMARY}"


def test_the_reader_recognises_any_receipt(returned, tmp_path):
    """Sending a receipt back in is answered in Chinese, whatever kind of receipt it is."""
    _, report, out = returned
    accepted = write_receipt(None, Report(file="ok.xlsx"), info(), tmp_path / "ok_回执.xlsx")
    wb = load_workbook(out)
    del wb["回执"]  # the copy alone, its 回执 sheet deleted: the _meta marker still tells
    copy_only = tmp_path / "copy.xlsx"
    wb.save(copy_only)
    for path in (out, accepted, copy_only):
        checked = check_file(path).report
        assert not checked.readable
        (finding,) = checked.findings
        assert finding.code == "file.receipt"
        assert finding.message.startswith("这是县里发回的回执，不是报表")
        assert "在您原来的报表文件上修改后重新报送" in finding.message
    result = CliRunner().invoke(app, ["validate", str(out)])
    assert result.exit_code == 2
    assert "这是县里发回的回执，不是报表" in result.output


def test_warnings_only_ask_for_an_explanation_without_a_copy(tmp_path):
    src = fill_template(write_template(tmp_path / "t.xlsx", TOWN, PERIOD), base_values(), tmp_path / "ok.xlsx")
    report = Report(file="ok.xlsx", findings=[warning("yoy.A01", "「主要指标」D4【辖区法人单位数】比上年增长 45%，请核实", sheet="主要指标", cell="D4")])
    out = write_receipt(src, report, info(), tmp_path / "r.xlsx")
    assert load_workbook(out).sheetnames == ["回执"]
    assert facts(out)["审核结论"] == "有问题需说明"
    passed = write_receipt(src, report, info(decision="通过"), tmp_path / "p.xlsx")
    assert facts(passed)["审核结论"] == "通过"


def test_many_problems_go_on_a_second_sheet(tmp_path):
    findings = [error("cell.not_number", f"「主要指标」D{i}【指标】「十二」不是数字", sheet="主要指标", cell=f"D{i}") for i in range(LISTED + 5)]
    out = write_receipt(None, Report(file="x.xlsx", findings=findings), info(accepted=False), tmp_path / "r.xlsx")
    wb = load_workbook(out)
    assert wb.sheetnames == ["回执", ALL_FINDINGS_SHEET]
    listed = [r for r in wb["回执"].iter_rows(values_only=True) if isinstance(r[0], int)]
    assert len(listed) == LISTED
    assert f"另有 5 处问题，见「{ALL_FINDINGS_SHEET}」工作表。" in receipt_text(out)
    assert sum(1 for r in wb[ALL_FINDINGS_SHEET].iter_rows(values_only=True) if isinstance(r[0], int)) == LISTED + 5


def test_receipt_sheet_prints_on_one_page(returned):
    _, _, out = returned
    ws = load_workbook(out)["回执"]
    setup = ws.page_setup
    assert (setup.paperSize, setup.orientation, setup.fitToWidth, setup.fitToHeight) == (9, "portrait", 1, 1)
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_area == f"'回执'!$A$1:$E${ws.max_row}"
    assert ws.oddFooter.center.text == "第 &P 页 共 &N 页"
    # wrapped problem text gets a row tall enough for its lines (no overlap with the next row)
    message_row = next(r for r in ws.iter_rows() if r[0].value == 1)[0].row
    assert ws.row_dimensions[message_row].height >= 15


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


def test_county_contact_is_optional_and_validated(tmp_path):
    assert load_county().contact.phone == "0371-12345678"
    config = tmp_path / "county.toml"
    base = 'county_code = "419901"\ncounty_name = "清河县"\n[[townships]]\ncode = "419901100"\nname = "城关镇"\n[[periods]]\nperiod = "2025"\ndue = 2026-01-10\n'
    config.write_text(base, encoding="utf-8")
    assert load_county(config).contact is None
    config.write_text(base.replace("[[townships]]", '[contact]\nname = "王红"\nphone = "电话号码"\n[[townships]]'), encoding="utf-8")
    with pytest.raises(ConfigError, match="contact.phone") as raised:
        load_county(config)
    assert "联系电话「电话号码」应为" in str(raised.value)
