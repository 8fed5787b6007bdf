"""A failure at any stage for one file among good ones: a finding on that file, and the run
goes on (every other file recorded, master workbook published, every other receipt written)."""

from __future__ import annotations

import decimal

import pytest
from openpyxl import load_workbook

from nianbao import filework, pipeline, validate
from nianbao.schemas.county import load_county
from nianbao.store import Store, open_store

from hostile_support import GOOD, PERIOD, settings_for


def _victim(root):
    county = load_county(root / "county.toml")
    return county, county.townships[1]


def _inject(monkeypatch, stage: str, victim_file: str) -> None:
    if stage == "read":
        real = filework.sha256_of

        def sha(path):
            if path.name == victim_file:
                raise PermissionError(13, "Permission denied")
            return real(path)

        monkeypatch.setattr(filework, "sha256_of", sha)
    elif stage == "parse":
        real_read = validate.read_return

        def read(path):
            raw = real_read(path)
            if path.name == victim_file:
                raise decimal.InvalidOperation([decimal.InvalidOperation])
            return raw

        monkeypatch.setattr(validate, "read_return", read)
    elif stage == "validate":
        real_check = validate.check_raw

        def check(raw, *, name, **kw):
            if name == victim_file:
                raise ValueError("a rule broke")
            return real_check(raw, name=name, **kw)

        monkeypatch.setattr(validate, "check_raw", check)
    elif stage == "store":
        real_many = Store.record_many

        def record_many(self, items):
            if any(file["file_name"] == victim_file and ret is not None for _, ret, file in items):
                raise decimal.InvalidOperation("database refused a value")
            return real_many(self, items)

        monkeypatch.setattr(Store, "record_many", record_many)
    elif stage == "receipt":
        real_write = filework.write_receipt

        def write(source, report, info, out):
            if info.file_name == victim_file and source is not None:
                raise OSError("disk full")
            return real_write(source, report, info, out)

        monkeypatch.setattr(filework, "write_receipt", write)


@pytest.mark.parametrize("stage", ["read", "parse", "validate", "store", "receipt"])
def test_failure_at_one_stage_for_one_file_stops_nothing_else(root, monkeypatch, stage):
    county, victim = _victim(root)
    victim_file = f"{victim.name}{PERIOD}年报.xlsx"
    _inject(monkeypatch, stage, victim_file)

    result = pipeline.run_once(settings_for(root), PERIOD)

    status = dict(zip(result.consolidation.status["township_code"], result.consolidation.status["received"]))
    others = [t for t in county.townships[:GOOD] if t != victim]
    assert all(status[t.code] for t in others)  # every other return recorded and counted
    assert result.master is not None and result.master.exists()
    receipts = {p.name for p in (root / "outbox").glob("*.xlsx")}
    for t in others:
        assert f"{t.code}_{t.name}_{PERIOD}_回执.xlsx" in receipts
    assert len(receipts) == GOOD  # the victim is answered too

    store = open_store(settings_for(root).db)
    try:
        assert store.receipts_due().empty  # nothing is owed after the run
    finally:
        store.close()
    findings = result.consolidation.findings
    victim_rows = findings[findings["file_name"] == victim_file]
    if stage == "receipt":  # recorded fine; the receipt itself says what went wrong
        receipt = next(p for p in (root / "outbox").glob("*.xlsx") if victim.name in p.name)
        text = " ".join(str(c.value) for row in load_workbook(receipt)["回执"].iter_rows() for c in row if c.value)
        assert "生成回执时发生内部错误" in text
    elif stage == "parse":  # a library error while reading: the file is unreadable, and says so
        assert list(victim_rows["code"]) == ["file.unreadable"]
    else:
        (row,) = victim_rows.to_dict("records")
        assert row["code"] == "file.internal"
        stage_word = {"read": "读取", "validate": "审核", "store": "入库"}[stage]
        assert f"在{stage_word}时发生内部错误" in row["message"] and victim_file in row["message"]
