"""The nightly master workbook written with openpyxl, read back with openpyxl."""

from __future__ import annotations

import dataclasses
import os
import stat
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import openpyxl
import pytest
from openpyxl import Workbook, load_workbook

from nianbao.schemas.indicators import INDICATORS, RATES
from nianbao.workbooks import master
from nianbao.workbooks.layout import Ref
from nianbao.workbooks.master import MasterWorkbookError, read_master_reviews, write_master
from nianbao.workbooks.master_layout import (
    CHART_SHEET,
    NB_AS_OF,
    NB_PERIOD,
    NB_REVIEW_DECISION,
    NB_REVIEW_REASON,
    NB_STATUS,
    NB_TOWNSHIPS,
    NB_TOWNSHIPS_TOTAL,
    master_sheets,
    parse_stamp,
)

SHEETS = ["汇总", "分乡镇", "报送情况", "审核问题", "同比", "统计综述", "变动情况", "数据来源"]


def name_cell(wb: Workbook, name: str):
    ref = Ref.parse(wb.defined_names[name].attr_text)
    return wb[ref.sheet].cell(ref.row, ref.col)


def cells(ws, first_row: int, last_row: int, first_col: int = 1, last_col: int | None = None) -> list[tuple]:
    """(sheet, cell, value) for a region, blanks left out."""
    out = []
    for row in ws.iter_rows(min_row=first_row, max_row=last_row, min_col=first_col, max_col=last_col or ws.max_column):
        out += [(ws.title, c.coordinate, c.value) for c in row if c.value is not None]
    return out


def status_row(wb: Workbook, code: str) -> int:
    start = name_cell(wb, NB_STATUS)
    ws = start.parent
    for r in range(start.row, ws.max_row + 1):
        if ws.cell(r, start.column).value == code:
            return r
    raise AssertionError(f"{code} not on 报送情况")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "out" / "清河县_2025_汇总.xlsx"


def test_sheets_and_key_regions(consolidation, factory, path):
    township_values = factory.township_values
    wb = load_workbook(write_master(consolidation, path))
    assert wb.sheetnames == SHEETS + [CHART_SHEET]
    ws = wb["汇总"]
    assert cells(ws, 1, 9) == [
        ("汇总", "A1", "清河县工会年报汇总表（2025年）"),
        ("汇总", "A2", "数据截至 2026-01-15 21:30"),
        ("汇总", "A3", "填报单位"), ("汇总", "B3", "清河县"),
        ("汇总", "A4", "单位代码"), ("汇总", "B4", "419901"),
        ("汇总", "A5", "报告期"), ("汇总", "B5", "2025"),
        ("汇总", "A7", "代码"), ("汇总", "B7", "指标名称"), ("汇总", "C7", "计量单位"), ("汇总", "D7", "本期数值"),
        ("汇总", "B8", "A 组织建设"),
        ("汇总", "A9", "A01"), ("汇总", "B9", "辖区法人单位数"), ("汇总", "C9", "家"), ("汇总", "D9", 287 + 430 + 574),
    ]
    # Every indicator once, with the county total; money in 万元 with two decimals.
    values = {ws.cell(r, 1).value: ws.cell(r, 4) for r in range(8, ws.max_row + 1) if ws.cell(r, 1).value}
    assert list(values) == [i.code for i in INDICATORS] + [r.code for r in RATES]
    assert values["F03"].value == round(sum(township_values(i)["F03"] for i in range(3)), 2)
    assert values["F03"].number_format == "#,##0.00"
    assert values["A10"].number_format == "#,##0"
    a02, a03 = (sum(township_values(i)[code] for i in range(3)) for code in ("A02", "A03"))
    assert values["R01"].value == pytest.approx(a03 / a02)
    assert values["R01"].number_format == "0.0%"

    ws = wb["分乡镇"]
    assert cells(ws, 5, 7, 1, 4) == [
        ("分乡镇", "A5", "乡镇代码"), ("分乡镇", "B5", "乡镇名称"),
        ("分乡镇", "C5", "A01 辖区法人单位数（家）"), ("分乡镇", "D5", "A02 应建会单位数（家）"),
        ("分乡镇", "A6", "419901100"), ("分乡镇", "B6", "城关镇"), ("分乡镇", "C6", 287), ("分乡镇", "D6", 240),
        ("分乡镇", "A7", "419901101"), ("分乡镇", "B7", "东关街道"), ("分乡镇", "C7", 430), ("分乡镇", "D7", 360),
    ]
    assert ws["A6"].data_type == "s" and ws["A6"].number_format == "@"
    assert ws.freeze_panes == "C6"
    assert ws["A5"].font.b and ws["A5"].fill.fgColor.rgb.endswith("DDEBF7")


def test_totals_row_sums_townships_and_recomputes_rates(consolidation, path):
    wb = load_workbook(write_master(consolidation, path))
    total = name_cell(wb, NB_TOWNSHIPS_TOTAL)
    ws, row = total.parent, total.row
    first = name_cell(wb, NB_TOWNSHIPS).row
    assert ws.cell(row, 2).value == "合计" and row == first + 3
    header = {ws.cell(first - 1, c).value.split()[0]: c for c in range(3, ws.max_column + 1)}
    for ind in INDICATORS:
        col = header[ind.code]
        above = sum(ws.cell(r, col).value for r in range(first, row))
        assert ws.cell(row, col).value == pytest.approx(above), ind.code
    for rate in RATES:
        col = header[rate.code]
        num, den = ws.cell(row, header[rate.numerator]).value, ws.cell(row, header[rate.denominator]).value
        assert ws.cell(row, col).value == pytest.approx(num / den), rate.code
        assert ws.cell(row, col).number_format == "0.0%"
    # Not the average of the township rates: 城关镇 and 东关街道 differ in size.
    col = header["R05"]
    mean = sum(ws.cell(r, col).value for r in range(first, row)) / 3
    assert ws.cell(row, col).value != pytest.approx(mean)
    assert ws.cell(row, 2).font.b


def test_chart_of_members_by_township(consolidation, path):
    write_master(consolidation, path)
    wb = load_workbook(path)
    charts = wb[CHART_SHEET]._charts
    assert len(charts) == 2
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/charts/chart1.xml").decode()
    member_col = openpyxl.utils.get_column_letter(2 + [i.code for i in INDICATORS].index("A10") + 1)
    # Values of the three townships (header as series title), not the 合计 row (row 9).
    assert f"'分乡镇'!${member_col}$6:${member_col}$8" in xml
    assert "'分乡镇'!$B$6:$B$8" in xml
    assert "各乡镇会员人数" in xml


def test_no_chart_without_townships(make, path):
    wb = load_workbook(write_master(make(reported=0), path))
    assert CHART_SHEET not in wb.sheetnames
    ws = wb["分乡镇"]
    assert name_cell(wb, NB_TOWNSHIPS_TOTAL).row == name_cell(wb, NB_TOWNSHIPS).row
    assert ws.cell(name_cell(wb, NB_TOWNSHIPS_TOTAL).row, 2).value == "合计"


def test_findings_sheet_lists_every_finding(consolidation, path):
    wb = load_workbook(write_master(consolidation, path))
    ws = wb["审核问题"]
    header = [c.value for c in ws[8]]
    assert header == ["乡镇代码", "乡镇名称", "文件名", "类别", "问题代码", "工作表", "单元格", "字段", "问题说明", "处理情况", "情况说明（乡镇填写）"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=9)]
    assert len(rows) == len(consolidation.findings) == 3
    for row, finding in zip(rows, consolidation.findings.to_dict("records")):
        assert row[0] == (finding["township_code"] or None)
        where = [v if isinstance(v, str) else None for v in (finding["sheet"], finding["cell"])]
        assert row[5:7] == where and row[8] == finding["message"]
    assert [r[3] for r in rows] == ["错误", "提示", "提示"]
    assert ws["B3"].value == 3 and ws["B4"].value == 1 and ws["B5"].value == 2


def test_defined_names_point_at_the_right_cells(consolidation, factory, path):
    AS_OF, TOWNS = factory.AS_OF, factory.TOWNS
    wb = load_workbook(write_master(consolidation, path))
    assert parse_stamp(name_cell(wb, NB_AS_OF).value) == AS_OF.replace(second=0)
    assert name_cell(wb, NB_PERIOD).value == "2025"
    assert name_cell(wb, "NB_PREVIOUS_PERIOD").value == "2024"
    status = name_cell(wb, NB_STATUS)
    assert status.value == TOWNS[0][0]
    for name, header in ((NB_REVIEW_DECISION, "审核意见"), (NB_REVIEW_REASON, "审核理由")):
        cell = name_cell(wb, name)
        assert cell.row == status.row and cell.parent.cell(cell.row - 1, cell.column).value == header
        assert cell.protection.locked is False
    assert name_cell(wb, "NB_EXPECTED").value == 5
    assert name_cell(wb, "NB_COMPLETENESS").value == pytest.approx(3 / 5)
    assert name_cell(wb, "NB_TIMELINESS").value == pytest.approx(2 / 5)
    assert name_cell(wb, "NB_YOY").value == "A01"
    assert name_cell(wb, "NB_SUMMARY").offset(0, 1).value == "A 组织建设"
    # Every name the layout declares is in the file and nothing else.
    declared = {n for s in master_sheets(consolidation) for n in s.anchors()}
    assert set(wb.defined_names) == declared


def test_run_time_in_utc_is_stamped_in_beijing_time(make, path):
    utc = datetime(2026, 1, 15, 13, 30, tzinfo=timezone.utc)
    wb = load_workbook(write_master(make(as_of=utc), path))
    assert {wb[s]["A2"].value for s in SHEETS} == {"数据截至 2026-01-15 21:30"}


def test_status_sheet_and_review_dropdown(consolidation, path):
    wb = load_workbook(write_master(consolidation, path))
    ws = wb["报送情况"]
    r = status_row(wb, "419901102")
    assert [ws.cell(r, c).value for c in range(1, 10)] == [
        "419901102", "西关街道", "是", "是", "是", datetime(2026, 1, 10, 9, 32), "西关街道2025年报.xlsx", "逾期", 0,
    ]
    assert ws.cell(r, 6).number_format == "yyyy-mm-dd hh:mm"
    missing = status_row(wb, "419901104")
    assert [ws.cell(missing, c).value for c in range(3, 9)] == ["否", None, None, None, None, "未报"]
    (dv,) = ws.data_validations.dataValidation
    decision = name_cell(wb, NB_REVIEW_DECISION)
    assert dv.formula1 == '"通过,退回"' and str(dv.sqref) == f"J{decision.row}:J{decision.row + 4}"


def type_review(path: Path, code: str, decision: str, reason: str) -> None:
    """What county staff do in Excel: type into the 审核意见/审核理由 cells of a township."""
    wb = load_workbook(path)
    r = status_row(wb, code)
    ws = wb["报送情况"]
    ws.cell(r, name_cell(wb, NB_REVIEW_DECISION).column, decision)
    ws.cell(r, name_cell(wb, NB_REVIEW_REASON).column, reason)
    wb.save(path)


def review_of(path: Path, code: str) -> tuple:
    wb = load_workbook(path)
    r = status_row(wb, code)
    ws = wb["报送情况"]
    return ws.cell(r, name_cell(wb, NB_REVIEW_DECISION).column).value, ws.cell(r, name_cell(wb, NB_REVIEW_REASON).column).value


def test_review_entries_survive_a_rewrite(make, path):
    write_master(make(), path)
    type_review(path, "419901101", "退回", "女职工人数大于职工人数，请更正")
    type_review(path, "419901100", "通过", "")
    assert set(read_master_reviews(path)) == {"419901100", "419901101"}

    # The next night: one more township reported, rows in another order, a later run time.
    later = make(reported=4, as_of=datetime(2026, 1, 16, 21, 30))
    later = dataclasses.replace(later, status=later.status.iloc[::-1].reset_index(drop=True))
    write_master(later, path)
    assert review_of(path, "419901101") == ("退回", "女职工人数大于职工人数，请更正")
    assert review_of(path, "419901100") == ("通过", None)
    assert review_of(path, "419901103") == (None, None)
    assert parse_stamp(load_workbook(path)["报送情况"]["A2"].value) == datetime(2026, 1, 16, 21, 30)


def test_review_entry_dropped_when_the_township_sent_a_new_file(make, path):
    write_master(make(), path)
    type_review(path, "419901101", "通过", "")
    resubmitted = make(received={"419901101": datetime(2026, 1, 14, 16, 5)})
    write_master(resubmitted, path)
    # The approval was about the old file; the new one awaits review.
    assert review_of(path, "419901101") == (None, None)


def test_stored_decision_shown_when_nothing_typed(make, path):
    write_master(make(decisions={"419901100": ("退回", "名册缺少信用代码")}), path)
    assert review_of(path, "419901100") == ("退回", "名册缺少信用代码")


def test_failed_save_leaves_the_old_file_and_no_temp_file(make, path, monkeypatch):
    write_master(make(), path)
    before = path.read_bytes()

    def broken_save(self, filename):
        Path(filename).write_bytes(b"PK\x03\x04 half a workbook")
        raise OSError("磁盘已满")

    monkeypatch.setattr(Workbook, "save", broken_save)
    with pytest.raises(OSError, match="磁盘已满"):
        write_master(make(reported=4), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_failed_render_leaves_the_old_file(make, path, monkeypatch):
    write_master(make(), path)
    before = path.read_bytes()
    monkeypatch.setattr(master, "_add_charts", lambda wb, sheets: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_master(make(reported=4), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_new_file_is_readable_by_others_and_rewrite_keeps_mode(make, path):
    write_master(make(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    write_master(make(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_foreign_file_is_not_overwritten(make, path):
    path.parent.mkdir(parents=True)
    wb = Workbook()
    wb.active["A1"] = "县里手工做的表"
    wb.save(path)
    before = path.read_bytes()
    with pytest.raises(MasterWorkbookError, match="NB_STATUS"):
        write_master(make(), path)
    assert path.read_bytes() == before
