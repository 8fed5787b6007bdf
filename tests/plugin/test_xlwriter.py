"""The in-Excel refresh (xlwings) against xlwings' JSON book engine: the actions it produces."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from nianbao.plugin.xlwriter import ReviewReadError, read_review_column, write_sheets
from nianbao.workbooks.layout import Ref
from nianbao.workbooks.master import write_master
from nianbao.workbooks.master_layout import (
    NB_REVIEW_DECISION,
    NB_REVIEW_REASON,
    NB_STATUS,
    NB_TOWNSHIPS_TOTAL,
    defined_names,
    master_sheets,
)

SHEETS = ["汇总", "分乡镇", "报送情况", "审核问题", "同比", "统计综述", "变动情况", "数据来源"]


def typed(payload: dict, code: str, decision: str, reason: str) -> dict:
    """What county staff do in Excel: type 审核意见/审核理由 on a township's 报送情况 row."""
    names = {n["name"]: n for n in payload["names"]}
    status = next(s for s in payload["sheets"] if s["name"] == "报送情况")
    first = Ref.parse(f"X!{names[NB_STATUS]['address']}")
    values = status["values"]
    row = next(r for r in range(first.row - 1, len(values)) if values[r][first.col - 1] == code)
    for name, text in ((NB_REVIEW_DECISION, decision), (NB_REVIEW_REASON, reason)):
        col = Ref.parse(f"X!{names[name]['address']}").col
        values[row][col - 1] = text
    return payload


def review_on(result, code: str) -> tuple:
    grid = result.grid("报送情况")
    refs = {n: Ref.parse(result.names[n]) for n in (NB_STATUS, NB_REVIEW_DECISION, NB_REVIEW_REASON)}
    row = next(r for r in grid[refs[NB_STATUS].row - 1 :] if r[refs[NB_STATUS].col - 1] == code)
    return row[refs[NB_REVIEW_DECISION].col - 1], row[refs[NB_REVIEW_REASON].col - 1]


def test_refresh_of_an_empty_book_writes_what_the_nightly_file_holds(json_book, tmp_path, xl, make):
    c = make()
    nightly = xl.xlsx_grids(write_master(c, tmp_path / "master.xlsx"))
    payload = xl.empty_payload()
    book = json_book(payload)

    summary = write_sheets(book, master_sheets(c))

    assert summary.created == tuple(SHEETS) and summary.written == tuple(SHEETS)
    assert summary.rows["分乡镇"] == 4 and summary.cleared == dict.fromkeys(SHEETS, 0)
    result = xl.replay(payload, book.json()["actions"])
    assert result.sheets == ["Sheet1", *SHEETS]
    for sheet in SHEETS:
        xl.assert_same_cells(sheet, result.grid(sheet), xl.wired(nightly[sheet]))
    assert result.names == defined_names(master_sheets(c))
    # Spot checks, so the comparison above cannot pass on two empty grids.
    assert result.grid("分乡镇")[5][:3] == ["419901100", "城关镇", 287]
    assert result.grid("报送情况")[12][5] == "2026-01-08 09:30:00"


def test_one_bulk_write_per_sheet_from_a1(json_book, xl, make):
    c = make()
    book = json_book(xl.empty_payload())
    sheets = master_sheets(c)
    write_sheets(book, sheets)
    for sheet in sheets:
        (write,) = xl.actions(book, "setValues", sheet.title)
        assert (write["start_row"], write["start_column"]) == (0, 0)
        assert (write["row_count"], write["column_count"]) == (sheet.end_row, sheet.width)
        assert len(write["values"]) == sheet.end_row


def test_print_area_follows_the_layout(json_book, xl, make):
    """xlwings' page_setup API: every sheet's print area is the layout's, on every refresh."""
    book = json_book(xl.empty_payload())
    sheets = master_sheets(make())
    write_sheets(book, sheets)
    for sheet in sheets:
        (action,) = xl.actions(book, "setPrintArea", sheet.title)
        assert action["args"] == [sheet.page_setup.print_area]
    summary = sheets[0]
    assert summary.signature and summary.page_setup.last_row == summary.end_row > summary.last_row
    rows = summary.signature_rows
    (height,) = [a for a in xl.actions(book, "setRowHeight", "汇总") if a["start_row"] + 1 == rows[0]]
    assert (height["row_count"], height["args"]) == (len(rows), [summary.signature_height])


def test_number_formats_go_before_values(json_book, xl, make):
    book = json_book(xl.empty_payload())
    sheet = master_sheets(make())[1]
    write_sheets(book, [sheet])
    acts = xl.actions(book, sheet="分乡镇")
    values_at = next(i for i, a in enumerate(acts) if a["func"] == "setValues")
    formats = {
        (a["start_row"] + 1, a["start_column"] + 1, a["row_count"]): (i, a["args"][0])
        for i, a in enumerate(acts)
        if a["func"] == "setNumberFormat"
    }
    rows = len(sheet.rows)  # three townships and 合计
    # Codes as text, so Excel keeps "419901100" a string; formats are set before the values.
    assert formats[(sheet.first_row, 1, rows)] == (formats[(sheet.first_row, 1, rows)][0], "@")
    assert all(i < values_at for i, _ in formats.values())
    assert formats[(sheet.first_row, sheet.column_index("F03"), rows)][1] == "#,##0.00"
    assert formats[(sheet.first_row, sheet.column_index("A10"), rows)][1] == "#,##0"
    assert formats[(sheet.first_row, sheet.column_index("R01"), rows)][1] == "0.0%"


def test_new_sheets_get_widths_in_points_and_a_frozen_pane(json_book, xl, make):
    book = json_book(xl.empty_payload())
    write_sheets(book, master_sheets(make()))
    widths = xl.actions(book, "setColumnWidth", "汇总")
    # 代码 8, 指标名称 34, 计量单位 10, 本期数值 16 characters (the template's) -> points for Office.js.
    assert [(a["start_column"], a["args"][0]) for a in widths] == [(0, 45.75), (1, 182.25), (2, 56.25), (3, 87.75)]
    (freeze,) = xl.actions(book, "freezePaneAtRange", "分乡镇")
    assert freeze["args"] == ["C6"]


def test_refresh_over_a_published_book_keeps_layout_settings(json_book, tmp_path, xl, make):
    c = make()
    payload = xl.payload_from_xlsx(write_master(c, tmp_path / "master.xlsx"))
    book = json_book(payload)
    summary = write_sheets(book, master_sheets(c))
    assert summary.created == ()
    assert xl.actions(book, "addSheet") == [] and xl.actions(book, "setColumnWidth") == []
    assert xl.actions(book, "freezePaneAtRange") == []
    # Names already point where they should: nothing re-added or re-pointed.
    assert xl.actions(book, "namesAdd") == [] and xl.actions(book, "setNameRefersTo") == []
    result = xl.replay(payload, book.json()["actions"])
    nightly = xl.xlsx_grids(tmp_path / "master.xlsx")
    for sheet in SHEETS:
        xl.assert_same_cells(sheet, result.grid(sheet), xl.wired(nightly[sheet]))


def test_rows_left_over_from_a_longer_result_are_cleared(json_book, tmp_path, xl, make):
    longer = make(reported=5)
    payload = xl.payload_from_xlsx(write_master(longer, tmp_path / "before.xlsx"))
    shorter = make(reported=2)
    shorter = dataclasses.replace(shorter, findings=shorter.findings.iloc[:1])
    book = json_book(payload)

    summary = write_sheets(book, master_sheets(shorter))

    assert summary.cleared["分乡镇"] == 3 and summary.cleared["审核问题"] == 2 and summary.cleared["汇总"] == 0
    (clear,) = xl.actions(book, "rangeClear", "分乡镇")
    sheet = master_sheets(shorter)[1]
    assert (clear["start_row"], clear["row_count"]) == (sheet.last_row, 3)
    assert clear["column_count"] == sheet.width
    # Cell by cell the same as a nightly file written for the shorter result.
    result = xl.replay(payload, book.json()["actions"])
    nightly = xl.xlsx_grids(write_master(shorter, tmp_path / "after.xlsx"))
    for name in SHEETS:
        xl.assert_same_cells(name, result.grid(name), xl.wired(nightly[name]))
    # The 合计 row moved up two rows, and its name with it.
    assert Ref.parse(result.names[NB_TOWNSHIPS_TOTAL]).row == sheet.last_row
    (moved,) = xl.actions(book, "setNameRefersTo")
    assert moved["args"][0] == NB_TOWNSHIPS_TOTAL


def test_total_row_style_follows_the_total_row(json_book, tmp_path, xl, make):
    payload = xl.payload_from_xlsx(write_master(make(reported=2), tmp_path / "m.xlsx"))
    book = json_book(payload)
    sheet = master_sheets(make(reported=4))[1]
    write_sheets(book, [sheet])
    fills = {(a["start_row"] + 1, a["row_count"]): a["args"][0] for a in xl.actions(book, "setRangeColor", "分乡镇")}
    assert fills[(sheet.last_row, 1)].upper() == "#FFF2CC"
    # The old 合计 row (row 8) is now a township row: its fill is reset with the body rows.
    assert fills[(sheet.first_row, 4)] is None


def test_typed_review_is_kept_by_township_code(json_book, tmp_path, xl, make):
    payload = xl.payload_from_xlsx(write_master(make(), tmp_path / "master.xlsx"))
    typed(payload, "419901101", "退回", "女职工人数大于职工人数，请更正")
    typed(payload, "419901100", "通过", "")
    book = json_book(payload)
    assert read_review_column(book) == {"419901100": ("通过", ""), "419901101": ("退回", "女职工人数大于职工人数，请更正")}

    # Next refresh: one more township reported and the rows come in another order.
    later = make(reported=4, as_of=datetime(2026, 1, 16, 8, 0))
    later = dataclasses.replace(later, status=later.status.iloc[::-1].reset_index(drop=True))
    summary = write_sheets(book, master_sheets(later))

    assert set(summary.reviews_kept) == {"419901100", "419901101"}
    result = xl.replay(payload, book.json()["actions"])
    assert review_on(result, "419901101") == ("退回", "女职工人数大于职工人数，请更正")
    assert review_on(result, "419901100") == ("通过", None)
    assert review_on(result, "419901103") == (None, None)
    # The typed rows moved: 城关镇 was the first township row and is now the last.
    first = Ref.parse(result.names[NB_STATUS]).row
    assert result.grid("报送情况")[first - 1 + 4][0] == "419901100"


def test_typed_review_dropped_when_a_new_file_arrived(json_book, tmp_path, xl, make):
    payload = xl.payload_from_xlsx(write_master(make(), tmp_path / "master.xlsx"))
    typed(payload, "419901101", "通过", "")
    book = json_book(payload)
    newer = make(received={"419901101": datetime(2026, 1, 14, 16, 5)})
    summary = write_sheets(book, master_sheets(newer))
    assert summary.reviews_kept == ()
    assert review_on(xl.replay(payload, book.json()["actions"]), "419901101") == (None, None)


def test_review_column_codes_typed_as_numbers(json_book, tmp_path, xl, make):
    """A township code Excel turned into a number still matches."""
    payload = xl.payload_from_xlsx(write_master(make(), tmp_path / "master.xlsx"))
    typed(payload, "419901101", "通过", "核对无误")
    status = next(s for s in payload["sheets"] if s["name"] == "报送情况")
    for row in status["values"]:
        if row[0] == "419901101":
            row[0] = 419901101.0
    assert read_review_column(json_book(payload)) == {"419901101": ("通过", "核对无误")}


def test_review_column_of_a_blank_book_is_empty(json_book, xl):
    assert read_review_column(json_book(xl.empty_payload())) == {}


def test_missing_review_names_stop_the_refresh(json_book, tmp_path, xl, make):
    payload = xl.payload_from_xlsx(write_master(make(), tmp_path / "master.xlsx"))
    payload["names"] = [n for n in payload["names"] if n["name"] != NB_REVIEW_REASON]
    book = json_book(payload)
    with pytest.raises(ReviewReadError, match=NB_REVIEW_REASON):
        write_sheets(book, master_sheets(make()))
    assert book.json()["actions"] == []


def test_payload_helper_round_trips_names(tmp_path, xl, make):
    path = write_master(make(), tmp_path / "master.xlsx")
    payload = xl.payload_from_xlsx(path)
    names = {n["name"]: n for n in payload["names"]}
    assert names[NB_STATUS]["address"] == "A13" and payload["sheets"][names[NB_STATUS]["sheet_index"]]["name"] == "报送情况"
    assert xl.book_payload({"S": [[1]]})["sheets"][0]["values"] == [[1]]
