"""The township return template, generated from the schema and the layout; never edited by hand.

Input cells are unlocked, filled light yellow and carry data validation with Chinese prompts;
everything else is protected (sheet protection without a password, workbook structure locked
so sheets cannot be renamed, moved or deleted). Codes are text-formatted because Excel keeps
only 15 significant digits of a number. The 自查 column and the rates use the defined names,
never hard-coded addresses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from nianbao.schemas.county import CountyConfig, Township
from nianbao.schemas.indicators import BY_CODE, COMPARABLE, MONEY_UNIT
from nianbao.schemas.models import NOTE_LABEL, NOTE_MAX, FieldSpec, Notes, Period, Summary, field_specs
from nianbao.schemas.version import TEMPLATE_VERSION, schema_fingerprint
from nianbao.workbooks import layout as L
from nianbao.workbooks.printing import apply_page_setup

INPUT_COLOR = "FFF2CC"  # light yellow: type here
LOCKED_COLOR = "EDEDED"  # grey: filled in by the template or computed
HEADER_COLOR = "D9E1F2"
SECTION_COLOR = "E2EFDA"
INPUT_FILL = PatternFill("solid", fgColor=INPUT_COLOR)
LOCKED_FILL = PatternFill("solid", fgColor=LOCKED_COLOR)
HEADER_FILL = PatternFill("solid", fgColor=HEADER_COLOR)
SECTION_FILL = PatternFill("solid", fgColor=SECTION_COLOR)
ALERT_FILL = PatternFill("solid", bgColor="FFC7CE")
ALERT_FONT = Font(color="9C0006", bold=True)
PASS_FILL = PatternFill("solid", bgColor="C6EFCE")
TITLE_FONT = Font(size=14, bold=True)
BOLD = Font(bold=True)
HINT_FONT = Font(size=9, color="595959")
THIN = Side(style="thin", color="BFBFBF")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="center")
UNLOCKED = Protection(locked=False)
PERCENT_FORMAT = "0.00%"
KIND_FORMAT = {"count": "0", "money": "0.00", "yuan": "0.00", "date": "yyyy-mm-dd"}
TEXT_MAX = {"text": 100, "code": 30}


def template_filename(township: Township, period: str) -> str:
    return f"{township.code}_{township.name}_{Period(period)}年报.xlsx"


def number_format(spec: FieldSpec) -> str:
    return "@" if spec.text else KIND_FORMAT.get(spec.kind, "General")


def _excel_date(day: date) -> str:
    return f"DATE({day.year},{day.month},{day.day})"


def validation(spec: FieldSpec, hint: str, dates: tuple[date, date]) -> DataValidation:
    """Excel data validation for one input field, with a Chinese prompt and error message."""
    kind = spec.kind
    if kind == "count":
        dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")
    elif kind in ("money", "yuan"):
        dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")
    elif kind in ("yesno", "choice"):
        options = ("是", "否") if kind == "yesno" else spec.choices
        dv = DataValidation(type="list", formula1='"' + ",".join(options) + '"')
    elif kind == "date":
        dv = DataValidation(type="date", operator="between", formula1=_excel_date(dates[0]), formula2=_excel_date(dates[1]))
        hint = f"{hint}；应在 {dates[0]:%Y-%m-%d} 至 {dates[1]:%Y-%m-%d} 之间"
    else:
        dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(TEXT_MAX[kind]))
    dv.allow_blank = True
    dv.showInputMessage = dv.showErrorMessage = True
    dv.promptTitle = spec.label[:32]
    dv.prompt = hint[:255]
    dv.errorTitle = "填写有误"
    dv.error = f"【{spec.label}】应为：{hint}"[:255]
    dv.errorStyle = "stop"
    return dv


def _style(cell, *, fill=None, font=None, fmt=None, locked=True, border=True, align=None):
    if fill is not None:
        cell.fill = fill
    if font is not None:
        cell.font = font
    if fmt is not None:
        cell.number_format = fmt
    if not locked:
        cell.protection = UNLOCKED
    if border:
        cell.border = BORDER
    if align is not None:
        cell.alignment = align


def _input_cell(ws: Worksheet, row: int, col: int, spec: FieldSpec, hint: str, dates: tuple[date, date]):
    cell = ws.cell(row, col)
    _style(cell, fill=INPUT_FILL, fmt=number_format(spec), locked=False)
    dv = validation(spec, hint, dates)
    dv.add(cell.coordinate)
    ws.add_data_validation(dv)
    return cell


def _protect(ws: Worksheet) -> None:
    """Sheet protection without a password; resizing columns and rows stays allowed."""
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def _widths(ws: Worksheet, widths: list[int]) -> None:
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[L.col_letter(i)].width = width


def _threshold_text(yoy_threshold: float | None) -> str:
    return f"±{yoy_threshold:.0%}" if yoy_threshold else "县总工会设定的幅度"


def note_hint(yoy_threshold: float | None = None) -> str:
    """When a 情况说明 is expected: the prompt of every note cell and a line of 填表说明."""
    return (
        f"本期数值比上年增减超过{_threshold_text(yoy_threshold)}，或由它算出的比率与全县其他乡镇相比明显偏高、偏低时，"
        f"请在此简要说明原因（{NOTE_MAX} 字以内）；县里审核时将该提示标为“已说明”。没有特殊情况不用填写"
    )


def _guide_notes(yoy_threshold: float | None) -> str:
    compared = "、".join(f"{r.label}（【{_label(r.numerator)}】÷【{_label(r.denominator)}】）" for r in COMPARABLE)
    return (
        f"「主要指标」的“{NOTE_LABEL}”列可不填。以下情况请在对应指标的“{NOTE_LABEL}”中写明原因："
        f"① 本期数值比上年同期增减超过{_threshold_text(yoy_threshold)}；"
        f"② 下列比率与全县各乡镇的中位数相差悬殊：{compared}，此时请在分子或分母指标旁说明。"
        "已说明的提示在回执和县里的审核问题清单中显示为“已说明”，不再需要电话核实。"
    )


def _guide_lines(township: Township, period: Period, yoy_threshold: float | None = None) -> list[tuple[str, str]]:
    """(marker, text) pairs of 填表说明; the marker column shows a colour or a number."""
    ledger_unit = next(s.unit for s in L.LEDGER.specs if s.kind == "yuan")
    return [
        ("", f"本表由县总工会统一生成，适用于{township.name}（代码 {township.code}）{period.label}工会工作统计年报。"),
        ("1", "请依次填写「封面」「主要指标」「基层工会名册」「困难职工帮扶台账」四张工作表；"
         "「帮扶汇总」只在向上级报送的汇总报表中代替台账填写，乡镇不填。"),
        ("input", "黄色底色的单元格是填写项，只能在黄色单元格中填写；选中单元格时会显示填写要求。"),
        ("locked", "灰色底色的单元格由模板自动生成或自动计算（填报单位、报告期、派生比率），不能修改。"),
        ("2", "「主要指标」中“本期数值”一列按“计量单位”填写数字，不要带单位或文字，例如写 12，不要写“12家”。"),
        ("3", f"人数、户数、件数等填 ≥0 的整数；金额以{MONEY_UNIT}为单位，最多保留 2 位小数；"
         f"帮扶台账中的帮扶金额以{ledger_unit}为单位。没有发生的项目填 0，不要留空。"),
        ("4", f"“自查”列显示 {L.CHECK_MARK} 时，说明该行需要修改：填了文字而不是数字（如“1414人”），"
         "或与相关指标不符（如“其中”项大于合计、分项之和不等于合计）。「主要指标」右上角的“自查结论”"
         f"显示还有几处需要修改，报送前应显示“{L.CHECK_PASSED}”。"),
        ("5", "派生比率（建会率、入会率等）由表格自动计算，无需填写。"),
        ("6", "统一社会信用代码、身份证号、联系电话等代码已设为文本格式，请完整填写 18 位代码，不要省略前导 0、不要加空格。"),
        ("7", "「基层工会名册」每个单位填一行，「困难职工帮扶台账」每次帮扶填一行；从第一行起连续填写，"
         f"名册最多 {L.ROSTER.capacity} 行，台账最多 {L.LEDGER.capacity} 行。"),
        ("8", "请勿修改、删除工作表或更改工作表名称；请勿插入或删除行、列，请勿修改表头。"
         "工作表已保护（未设密码），仅用于防止误改结构。"),
        ("9", "发现错误需要更正时，请修改本文件后重新报送整个文件，不要只报送修改的部分。"),
        ("10", "请保存为 .xlsx 格式报送（也接受 .xls、.ods 格式），文件名可以修改，但请勿复制到其他工作簿中填写。"),
        ("11", _guide_notes(yoy_threshold)),
        ("", f"模板版本 {TEMPLATE_VERSION}，结构标识 {schema_fingerprint()}。"),
    ]


def _write_guide(ws: Worksheet, township: Township, period: Period, yoy_threshold: float | None = None) -> None:
    ws.title = L.SHEET_GUIDE
    ws.cell(1, 1, "填表说明").font = TITLE_FONT
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=L.GUIDE_LAST_COL)
    lines = _guide_lines(township, period, yoy_threshold)
    for row, (marker, text) in enumerate(lines, start=3):
        mark = ws.cell(row, 1)
        if marker == "input":
            mark.fill = INPUT_FILL
        elif marker == "locked":
            mark.fill = LOCKED_FILL
        else:
            mark.value = marker or None
        mark.alignment = Alignment(horizontal="center", vertical="center")
        ws.cell(row, 2, text).alignment = WRAP
        ws.row_dimensions[row].height = 32
    _widths(ws, [6, 100])
    apply_page_setup(ws, L.template_page(L.SHEET_GUIDE, f"{township.name}{period.label}工会工作统计年报 填表说明", 2 + len(lines)))
    _protect(ws)


def _write_cover(ws: Worksheet, township: Township, period: Period) -> None:
    ws.cell(L.COVER_TITLE_ROW, 1, f"{township.name}{period.label}工会工作统计年报").font = TITLE_FONT
    prefilled = {"township_code": township.code, "township_name": township.name, "period": str(period)}
    dates = (period.first_day, date(period.year + 1, 12, 31))
    for spec in L.COVER_SPECS:
        row = L.cover_row(spec.name)
        _style(ws.cell(row, L.COVER_LABEL_COL, spec.label), font=BOLD, fill=HEADER_FILL)
        if spec.name in prefilled:
            cell = ws.cell(row, L.COVER_VALUE_COL, prefilled[spec.name])
            _style(cell, fill=LOCKED_FILL, fmt=number_format(spec))
            hint = "由模板生成，不可修改"
        else:
            hint = L.field_hint(spec)
            _input_cell(ws, row, L.COVER_VALUE_COL, spec, hint, dates)
        _style(ws.cell(row, L.COVER_HINT_COL, hint), font=HINT_FONT, align=WRAP)
    _signature_block(ws)
    _widths(ws, [18, 30, 44])
    apply_page_setup(ws, L.template_page(L.SHEET_COVER, f"{township.name}{period.label}工会工作统计年报"))
    _protect(ws)


def _signature_block(ws: Worksheet) -> None:
    """Lines to sign on and a box for the unit's stamp, under the cover fields (printed, signed)."""
    line = Border(bottom=Side(style="thin", color="000000"))
    first = L.SIGNATURE_FIRST_ROW
    for i, label in enumerate(L.COVER_SIGNATURES):
        row = first + 2 * i
        ws.cell(row, L.COVER_LABEL_COL, f"{label}：").font = BOLD
        ws.cell(row, L.COVER_VALUE_COL).border = line
        ws.row_dimensions[row].height = 30
    if "日期" in L.COVER_SIGNATURES[-1]:
        last = first + 2 * (len(L.COVER_SIGNATURES) - 1)
        ws.cell(last, L.COVER_VALUE_COL, "        年      月      日").alignment = Alignment(vertical="bottom")
    ws.merge_cells(start_row=first, start_column=L.COVER_HINT_COL, end_row=L.COVER_LAST_ROW, end_column=L.COVER_HINT_COL)
    stamp = ws.cell(first, L.COVER_HINT_COL, L.COVER_STAMP)
    stamp.alignment = Alignment(horizontal="center", vertical="top")
    stamp.font = BOLD
    box = Side(style="thin", color="7F7F7F")
    for row in range(first, L.COVER_LAST_ROW + 1):
        ws.cell(row, L.COVER_HINT_COL).border = Border(
            left=box, right=box, top=box if row == first else None, bottom=box if row == L.COVER_LAST_ROW else None
        )


def _write_summary(ws: Worksheet, township: Township, period: Period, yoy_threshold: float | None = None) -> None:
    col = L.SUMMARY_COL
    ws.cell(L.SUMMARY_TITLE_ROW, 1, f"{township.name}{period.label}主要指标").font = TITLE_FONT
    for i, column in enumerate(L.SUMMARY_COLUMNS, start=1):
        _style(ws.cell(L.SUMMARY_HEADER_ROW, i, column.header), font=BOLD, fill=HEADER_FILL, align=WRAP)
    dates = (period.first_day, period.last_day)
    summary_specs = {s.name: s for s in field_specs(Summary)}
    note_specs = {s.name: s for s in field_specs(Notes)}
    note_prompt = note_hint(yoy_threshold)
    checks = []
    for item in L.SUMMARY_ROWS:
        row = item.row
        if item.kind in ("section", "rates"):
            for i in range(1, len(L.SUMMARY_COLUMNS) + 1):
                _style(ws.cell(row, i), fill=SECTION_FILL, font=BOLD)
            ws.cell(row, col["code"] if item.kind == "section" else col["label"], item.label)
            continue
        ws.cell(row, col["code"], item.code)
        ws.cell(row, col["label"], item.label)
        ws.cell(row, col["unit"], item.unit)
        for key in ("code", "label", "unit", "check", "note", "hint"):
            _style(ws.cell(row, col[key]))
        if item.indicator is not None:
            ind = item.indicator
            spec = summary_specs[ind.code]
            hint = L.indicator_hint(ind)
            _input_cell(ws, row, col["value"], spec, hint, dates)
            note = _input_cell(ws, row, col["note"], note_specs[ind.code], note_prompt, dates)
            note.alignment = WRAP
            ws.cell(row, col["hint"], hint).font = HINT_FONT
            ws.cell(row, col["check"], L.self_check_formula(ind.code)).alignment = Alignment(horizontal="center")
            checks.append(L.a1(row, col["check"]))
        else:
            cell = ws.cell(row, col["value"], L.rate_formula(item.rate))
            _style(cell, fill=LOCKED_FILL, fmt=PERCENT_FORMAT)
            ws.cell(row, col["hint"], f"自动计算：{item.rate.label} = 【{_label(item.rate.numerator)}】÷【{_label(item.rate.denominator)}】").font = HINT_FONT
    if checks:
        ws.conditional_formatting.add(
            " ".join(checks), CellIsRule(operator="equal", formula=[f'"{L.CHECK_MARK}"'], font=ALERT_FONT, fill=ALERT_FILL)
        )
    _conclusion(ws)
    _widths(ws, [c.width for c in L.SUMMARY_COLUMNS])
    ws.freeze_panes = ws.cell(L.SUMMARY_FIRST_ROW, 1)
    apply_page_setup(ws, L.template_page(L.SHEET_SUMMARY, f"{township.name}{period.label}主要指标"))
    _protect(ws)


def _conclusion(ws: Worksheet) -> None:
    """自查结论 at the top of 主要指标: green when the self-check passes, red otherwise."""
    row, col = L.CHECK_CONCLUSION_ROW, L.SUMMARY_COL["check"]
    _style(ws.cell(row, col, L.CHECK_CONCLUSION_LABEL), font=BOLD, fill=HEADER_FILL, align=Alignment(horizontal="center"))
    cell = ws.cell(row, col + 1, L.check_conclusion_formula())
    _style(cell, font=BOLD, align=Alignment(horizontal="left", vertical="center"))
    ws.conditional_formatting.add(
        cell.coordinate, CellIsRule(operator="equal", formula=[f'"{L.CHECK_PASSED}"'], font=Font(color="006100", bold=True), fill=PASS_FILL)
    )
    ws.conditional_formatting.add(
        cell.coordinate, CellIsRule(operator="notEqual", formula=[f'"{L.CHECK_PASSED}"'], font=ALERT_FONT, fill=ALERT_FILL)
    )


def _label(code: str) -> str:
    return BY_CODE[code].label


def _write_table(ws: Worksheet, table: L.DetailTable, period: Period) -> None:
    ws.cell(table.title_row, 1, table.title).font = TITLE_FONT
    dates = (period.first_day, period.last_day)
    for col, spec in enumerate(table.specs, start=1):
        hint = L.field_hint(spec)
        _style(ws.cell(table.hint_row, col, hint), font=HINT_FONT, align=WRAP, border=False)
        ws.cell(table.header_row, col, spec.header).alignment = WRAP
        fmt = number_format(spec)
        for row in range(table.first_row, table.last_row + 1):
            _style(ws.cell(row, col), fill=INPUT_FILL, fmt=fmt, locked=False)
        dv = validation(spec, hint, dates)
        dv.add(f"{L.col_letter(col)}{table.first_row}:{L.col_letter(col)}{table.last_row}")
        ws.add_data_validation(dv)
    ws.row_dimensions[table.hint_row].height = 45
    ws.row_dimensions[table.header_row].height = 30
    excel_table = Table(displayName=table.table_name, ref=table.table_ref)
    excel_table.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=False)
    ws.add_table(excel_table)
    _widths(ws, [s.width for s in table.specs])
    ws.freeze_panes = ws.cell(table.first_row, 1)
    apply_page_setup(ws, L.template_page(table.sheet, table.title))
    _protect(ws)
    ws.protection.autoFilter = False
    ws.protection.sort = False


def _write_meta(ws: Worksheet, township: Township, period: Period, generated_at: datetime) -> None:
    values = {
        "template_version": TEMPLATE_VERSION,
        "schema_fingerprint": schema_fingerprint(),
        "township_code": township.code,
        "township_name": township.name,
        "period": str(period),
        "generated_at": generated_at.isoformat(timespec="seconds"),
    }
    for key in L.META_KEYS:
        ws.cell(L.meta_row(key), L.META_KEY_COL, key)
        ws.cell(L.meta_row(key), L.META_VALUE_COL, values[key]).number_format = "@"
    ws.sheet_state = L.META_STATE
    _protect(ws)


def build_template(
    township: Township, period: str, generated_at: datetime | None = None, *, yoy_threshold: float | None = None
) -> Workbook:
    """The template as an openpyxl workbook (not saved); ``period`` like 2025 or 2025H1.

    ``yoy_threshold`` (the county config's) is quoted where staff are told when to explain.
    """
    period = Period(period)
    wb = Workbook()
    _write_guide(wb.active, township, period, yoy_threshold)
    _write_cover(wb.create_sheet(L.SHEET_COVER), township, period)
    _write_summary(wb.create_sheet(L.SHEET_SUMMARY), township, period, yoy_threshold)
    for table in L.DETAIL_TABLES:
        _write_table(wb.create_sheet(table.sheet), table, period)
    _write_meta(wb.create_sheet(L.SHEET_META), township, period, generated_at or datetime.now())
    for name, ref in L.default_names().items():
        wb.defined_names[name] = DefinedName(name, attr_text=ref.text)
    wb.security = WorkbookProtection(lockStructure=True)
    wb.active = wb.sheetnames.index(L.SHEET_COVER)
    return wb


def write_template(
    path: Path | str, township: Township, period: str, generated_at: datetime | None = None, *, yoy_threshold: float | None = None
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build_template(township, period, generated_at, yoy_threshold=yoy_threshold).save(path)
    return path


def county_period(county: CountyConfig, period: str | None) -> str:
    """``period`` normalised (default: the county's latest); a Chinese ValueError if unknown."""
    if period is None:
        return county.latest_period
    period = str(Period(period))
    if county.period(period) is None:
        known = "、".join(p.period for p in county.periods)
        raise ValueError(f"报告期「{period}」不在县配置中，可选：{known}")
    return period


def write_county_templates(
    county: CountyConfig,
    period: str,
    out_dir: Path | str,
    on_written: Callable[[Path], None] | None = None,
) -> list[Path]:
    """One template per township of ``county``; ``period`` must be one of the county's periods."""
    period = county_period(county, period)
    out_dir = Path(out_dir)
    paths = []
    for township in county.townships:
        path = write_template(out_dir / template_filename(township, period), township, period, yoy_threshold=county.yoy_threshold)
        paths.append(path)
        if on_written:
            on_written(path)
    return paths
