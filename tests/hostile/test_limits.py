"""Resource limits: a zip bomb is refused from its directory before anything is expanded, a
sheet whose used area is huge is refused before calamine builds its grid, and a run with a
1-GiB expanding bomb in the inbox stays far below 600 MB."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from nianbao.validate import check_file
from nianbao.workbooks import limits

from hostile_support import settings_for

GIB = 1024**3


def write_bomb(path: Path, expanded: int = GIB) -> Path:
    """An .xlsx-looking zip whose one sheet expands to ``expanded`` bytes (deflate of zeros)."""
    chunk = b"\0" * (16 * 1024**2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            for _ in range(expanded // len(chunk)):
                part.write(chunk)
    return path


def test_bomb_is_refused_from_the_directory(tmp_path):
    bomb = write_bomb(tmp_path / "城关镇.xlsx", 256 * 1024**2)
    report = check_file(bomb).report
    (finding,) = report.findings
    assert not report.readable and finding.code == "file.too_large"
    assert "压缩比" in finding.message and "城关镇.xlsx" in finding.message


def test_huge_used_area_and_too_many_rows_are_refused(root, tmp_path):
    good = next((root / "inbox").glob("*.xlsx"))
    for cell, sheet in (("XFD1048576", "主要指标"), ("A30000", "基层工会名册")):
        wb = load_workbook(good)
        wb[sheet][cell] = 1
        wb.save(tmp_path / "x.xlsx")
        report = check_file(tmp_path / "x.xlsx").report
        (finding,) = report.findings
        assert finding.code == "file.too_large" and finding.sheet == sheet, finding
        assert "超过上限" in finding.message


def test_extent_is_read_from_cell_references():
    xml = b'<sheetData><row r="1"><c r="A1"/><c r="C1"/></row><row r="70000"><c r="AB70000"/></row></sheetData>'
    assert limits.sheet_extent(xml) == (70000, 28)
    assert limits.sheet_extent(b'<row r="9"><c r="B9"/></row><row r="3"/>') == (9, 26)  # rows out of order
    assert limits.sheet_extent(b"<row><c/></row><row><c/></row>") == (2, 26)  # no references


def test_run_with_a_1gib_bomb_in_the_inbox_stays_under_600mb(root):
    write_bomb(root / "inbox" / "炸弹.xlsx")
    s = settings_for(root)
    script = textwrap.dedent(
        f"""
        import resource, subprocess, sys
        code = '''
        from nianbao.pipeline import run_once
        from nianbao.settings import Settings
        r = run_once(Settings(config={s.config!r}, inbox={s.inbox!r}, db={s.db!r}, out={s.out!r}, outbox={s.outbox!r}), "2025")
        print(r.new, r.rejected)
        '''
        out = subprocess.run([sys.executable, "-c", code.replace(chr(10) + "        ", chr(10))], capture_output=True, text=True)
        print(out.stdout.strip(), out.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    new, rejected, returncode, peak_kib = out.stdout.split()
    assert returncode == "0" and (new, rejected) == ("4", "1"), out
    assert int(peak_kib) < 600 * 1024, f"peak {int(peak_kib) / 1024:.0f} MB"
    print(f"peak memory of a run with a 1-GiB bomb: {int(peak_kib) / 1024:.0f} MB")
    receipt = next((root / "outbox").glob("未识别_炸弹*"))
    assert load_workbook(receipt).sheetnames == ["回执"]  # the receipt never copies the bomb


def test_sparse_xls_and_repeated_ods_are_refused_before_calamine_opens_them(tmp_path):
    import xlwt

    wb = xlwt.Workbook()
    wb.add_sheet("主要指标").write(65535, 255, 1)  # calamine would build a 16.7-million-cell grid
    wb.save(tmp_path / "稀疏.xls")
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body><office:spreadsheet>'
        '<table:table table:name="主要指标"><table:table-row table:number-rows-repeated="90000">'
        '<table:table-cell table:number-columns-repeated="1000" office:value-type="float" office:value="1"/>'
        "</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(tmp_path / "重复.ods", "w") as zf:  # 2.7 GB in calamine from a 1-KB file
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content)
        zf.writestr("META-INF/manifest.xml", "<manifest/>")
    for name in ("稀疏.xls", "重复.ods"):
        (finding,) = check_file(tmp_path / name).report.findings
        assert finding.code == "file.too_large" and "超过上限" in finding.message, finding


def test_trailing_empty_repeats_of_a_libreoffice_sheet_do_not_count():
    content = (
        b'<document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><table:table>'
        b'<table:table-row><table:table-cell office:value-type="float"/><table:table-cell table:number-columns-repeated="1000"/></table:table-row>'
        b'<table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        b"</table:table></document-content>"
    )
    import io

    assert limits.ods_extent(io.BytesIO(content)) == (1, 1)


def test_quick_sheet_problem_agrees_with_the_extent():
    """``sheet_problem`` skips the extent only where it cannot reach a limit: same answer."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    numbers = st.integers(1, 2_000_000) | st.sampled_from([9_999, 8_548, 10_000, 20_000, 20_001, 76_923, 76_924])
    rows = numbers.map(lambda r: f'<row r="{r}">') | st.sampled_from(["<row>", '<row spans="1:3" r="5">', "<rowBreaks/>"])
    cells = st.tuples(st.sampled_from(["A", "Z", "AA", "AZ", "HZ", "XFD", "ZZZZ"]), numbers).map(lambda c: f'<c r="{c[0]}{c[1]}"/>')
    parts = st.lists(rows | cells | st.sampled_from(["</row>", "<f>1</f>", "<v>1</v>"]), max_size=40).map(lambda p: "".join(p).encode())

    @settings(max_examples=400, deadline=None)
    @given(parts)
    def agree(xml):
        assert limits.sheet_problem("x.xlsx", "主要指标", xml) == limits.extent_problem("x.xlsx", "主要指标", *limits.sheet_extent(xml))

    agree()
    many = b"<row><c/></row>" * (limits.MAX_ROWS + 1)  # rows without references are counted
    assert limits.sheet_problem("x.xlsx", "主要指标", many) is not None


def _with_flipped_byte(src: Path, dst: Path, part: str, method: int = zipfile.ZIP_STORED) -> Path:
    """A copy of ``src`` whose ``part`` (written with ``method``) has one byte changed, as in a
    file damaged on a USB stick: its CRC no longer matches, or its deflate stream breaks."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info), method if info.filename == part else zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(dst) as zf:
        info = zf.getinfo(part)
    data = bytearray(dst.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def test_a_damaged_sheet_is_refused_and_a_damaged_part_nobody_reads_is_not(root, tmp_path):
    good = next((root / "inbox").glob("*.xlsx"))
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        sheet = _with_flipped_byte(good, tmp_path / "坏表.xlsx", "xl/worksheets/sheet3.xml", method)
        (finding,) = check_file(sheet).report.findings
        assert finding.code == "file.unreadable" and "已损坏" in finding.message and "坏表.xlsx" in finding.message, finding
    theme = _with_flipped_byte(good, tmp_path / "坏主题.xlsx", "xl/theme/theme1.xml")
    assert check_file(theme).report.readable  # calamine never sees the theme: nothing to refuse
