"""Validation of real files: each fixture written into a generated template with openpyxl,
read back by the reader, must give exactly its code at the cell the template's defined names say."""

import json

import pytest
from openpyxl import load_workbook
from openpyxl.utils.cell import range_boundaries
from typer.testing import CliRunner

from nianbao.cli import app
from nianbao.validate import check_file
from rule_fixtures import COUNTY, FIXTURES, PERIOD, TOWN, base_values, expected_field
from nianbao.schemas.models import LedgerRow, RosterRow, field_specs
from nianbao.workbooks.layout import cover_name, indicator_name
from nianbao.workbooks.sample import fill_template
from nianbao.workbooks.template import write_template


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return write_template(tmp_path_factory.mktemp("tpl") / "template.xlsx", TOWN, PERIOD)


def expected_cell(path, field: str) -> tuple[str, str | None]:
    """Where a model location sits, read from the file's own defined names (not the CellMap)."""
    wb = load_workbook(path)
    parts = field.split(".")

    def dest(name: str) -> tuple[str, str]:
        ((sheet, ref),) = list(wb.defined_names[name].destinations)
        return sheet, ref.replace("$", "")

    if parts[0] == "cover":
        return dest(cover_name(parts[1]))
    if parts[0] == "summary":
        return dest(indicator_name(parts[1]))
    sheet, ref = dest(f"NB_{parts[0].upper()}")
    if len(parts) == 1:
        return sheet, None
    min_col, min_row, max_col, _ = range_boundaries(ref)
    model = RosterRow if parts[0] == "roster" else LedgerRow
    header = next(s.header for s in field_specs(model) if s.name == parts[2])
    ws = wb[sheet]
    col = next(c for c in range(min_col, max_col + 1) if ws.cell(min_row - 1, c).value == header)
    return sheet, ws.cell(min_row + int(parts[1]), col).coordinate


def test_valid_sample_file_has_no_findings(template, tmp_path):
    path = fill_template(template, base_values(), tmp_path / "ok.xlsx")
    checked = check_file(path, period=PERIOD, county=COUNTY)
    assert checked.report.findings == []
    assert checked.report.valid and checked.report.township == TOWN.code


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.code)
def test_fixture_file_gives_its_code_at_the_right_cell(fixture, template, tmp_path):
    values = fixture.values()
    path = fill_template(template, values, tmp_path / f"{fixture.code}.xlsx")
    report = check_file(path, period=PERIOD, county=COUNTY).report
    assert report.readable
    assert {f.code for f in report.findings} == {fixture.code, *fixture.also}
    (hit,) = [f for f in report.findings if f.code == fixture.code]
    sheet, cell = expected_cell(path, expected_field(fixture, values))
    assert (hit.sheet, hit.cell) == (sheet, cell)
    assert hit.message.startswith(f"「{sheet}」{cell or ''}")


def test_cli_json_and_exit_codes(template, tmp_path):
    good = fill_template(template, base_values(), tmp_path / "good.xlsx")
    bad = fill_template(template, next(f for f in FIXTURES if f.code == "le.A02").values(), tmp_path / "bad.xlsx")
    junk = tmp_path / "junk.xlsx"
    junk.write_text("这不是报表")
    runner = CliRunner()

    ok = runner.invoke(app, ["validate", "--json", str(good)])
    assert ok.exit_code == 0, ok.output
    record = json.loads(ok.output)
    assert record["valid"] is True and record["township"] == TOWN.code and record["period"] == PERIOD

    errors = runner.invoke(app, ["validate", "--json", str(good), str(bad)])
    assert errors.exit_code == 1
    lines = [json.loads(line) for line in errors.output.splitlines()]
    assert [r["valid"] for r in lines] == [True, False]
    issue = lines[1]["issues"][0]
    assert set(issue) == {"code", "severity", "sheet", "cell", "field", "value", "message"}
    assert issue["code"] == "le.A02" and issue["sheet"] == "主要指标"

    unreadable = runner.invoke(app, ["validate", str(bad), str(junk)])
    assert unreadable.exit_code == 2
    assert "无法读取" in unreadable.output and "le.A02" in unreadable.output
