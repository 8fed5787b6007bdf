"""Files townships really send instead of a return: each gets a receipt and a 审核问题 row
saying what to send instead."""

from __future__ import annotations

import zipfile

from openpyxl import load_workbook

from nianbao import pipeline

from hostile_support import PERIOD, settings_for

KINDS = {
    "城关镇年报.et": "WPS",
    "城关镇年报.ett": "WPS",
    "年报说明.wps": "Excel 模板",
    "年报.numbers": "Numbers",
    "年报.csv": "CSV",
    "扫描件.pdf": "照片或扫描件",
    "照片.jpg": "照片或扫描件",
    "照片.PNG": "照片或扫描件",
    "全部乡镇.zip": "解压",
    "全部乡镇.rar": "解压",
}


def test_each_wrong_kind_of_file_gets_a_receipt_and_a_finding(root):
    inbox = root / "inbox"
    for i, name in enumerate(KINDS):
        (inbox / name).write_bytes(f"{name} {i}".encode() * 10)
    with zipfile.ZipFile(inbox / "全部乡镇.zip", "w") as zf:  # a real zip of a real return
        zf.write(next(inbox.glob("*.xlsx")), "城关镇.xlsx")

    result = pipeline.run_once(settings_for(root), PERIOD)

    findings = result.consolidation.findings
    for name, advice in KINDS.items():
        (row,) = findings[findings["file_name"] == name].to_dict("records")
        assert row["code"] == "file.wrong_format" and advice in row["message"], row
    problems = [c.value for r in load_workbook(result.master)["审核问题"].iter_rows() for c in r]
    assert all(name in problems for name in KINDS)
    receipts = [p.name for p in (root / "outbox").glob("未识别_*_回执.xlsx")]
    assert len(receipts) == len(KINDS)
    assert result.accepted == 3  # the valid returns beside them are unaffected
