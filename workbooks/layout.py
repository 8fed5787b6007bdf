"""Where everything sits in a township return, described once and derived from the schema.

The template writer, the reader, the sample filler and the master workbook all take positions
from here; no indicator or column is listed by hand. Rows and columns are 1-based (Excel).

Sheets: 填表说明 (guide), 封面 (cover), 主要指标 (summary), 基层工会名册 (roster),
困难职工帮扶台账 (ledger) and a very hidden ``_meta`` sheet with the template version and the
schema fingerprint.

Defined names (workbook scope), one per input cell:

* ``NB_COVER_<field>`` for each cover field (e.g. ``NB_COVER_filler``),
* ``NB_<CODE>`` for each indicator value cell (e.g. ``NB_A01``),
* ``NB_NOTE_<CODE>`` for each indicator's 情况说明 cell beside it,
* ``NB_ROSTER`` / ``NB_LEDGER`` for the data range (below the header) of the two detail tables,
  which are Excel tables named ``T_ROSTER`` / ``T_LEDGER``.

:class:`CellMap` turns model location strings (``summary.A08``, ``roster.3.uscc``) into a sheet
and an A1 cell; it is the one place in the code base doing that mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from pydantic import BaseModel

from nianbao.schemas.findings import Finding
from nianbao.schemas.indicators import (
    BY_CODE,
    INDICATORS,
    RATES,
    SECTIONS,
    SUMS,
    Indicator,
    Rate,
    indicators_in,
)
from nianbao.schemas.models import NOTE_LABEL, AidRow, Cover, FieldSpec, LedgerRow, RosterRow, field_specs
from nianbao.workbooks.printing import LANDSCAPE, PORTRAIT, PageSetup, pages_wide

# --------------------------------------------------------------------------------------------
# Sheets
SHEET_GUIDE = "填表说明"
SHEET_COVER = "封面"
SHEET_SUMMARY = "主要指标"
SHEET_ROSTER = "基层工会名册"
SHEET_LEDGER = "困难职工帮扶台账"
SHEET_AID = "帮扶汇总"
SHEET_META = "_meta"
META_STATE = "veryHidden"  # python-calamine lists and reads very hidden sheets
SHEET_ORDER = (SHEET_GUIDE, SHEET_COVER, SHEET_SUMMARY, SHEET_ROSTER, SHEET_LEDGER, SHEET_AID, SHEET_META)
# Sheets a return cannot do without (the guide may be deleted without losing anything).
DATA_SHEETS = (SHEET_COVER, SHEET_SUMMARY, SHEET_ROSTER, SHEET_LEDGER, SHEET_AID)

NAME_PREFIX = "NB_"


def col_letter(col: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_index(letters: str) -> int:
    """A -> 1, AA -> 27."""
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - 64
    return index


def a1(row: int, col: int) -> str:
    return f"{col_letter(col)}{row}"


def absolute(row: int, col: int) -> str:
    return f"${col_letter(col)}${row}"


def quote_sheet(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'"


_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)(?::\$?([A-Za-z]{1,3})\$?(\d+))?$")


@dataclass(frozen=True)
class Ref:
    """A defined name's target: one sheet, a cell or a rectangular range (1-based)."""

    sheet: str
    row: int
    col: int
    last_row: int
    last_col: int

    @classmethod
    def cell(cls, sheet: str, row: int, col: int) -> "Ref":
        return cls(sheet, row, col, row, col)

    @classmethod
    def parse(cls, text: str) -> "Ref | None":
        """``'主要指标'!$D$5`` or ``名册!$A$4:$O$503``; None for #REF!, several areas, constants."""
        text = text.strip().lstrip("=")
        sheet, sep, cells = text.rpartition("!")
        if not sep or "," in cells or not sheet:
            return None
        if sheet.startswith("'") and sheet.endswith("'"):
            sheet = sheet[1:-1].replace("''", "'")
        match = _REF.match(cells)
        if not match:
            return None
        row, col = int(match[2]), col_index(match[1])
        last_row = int(match[4]) if match[4] else row
        last_col = col_index(match[3]) if match[3] else col
        return cls(sheet, row, col, last_row, last_col)

    @property
    def text(self) -> str:
        start = absolute(self.row, self.col)
        if (self.row, self.col) == (self.last_row, self.last_col):
            return f"{quote_sheet(self.sheet)}!{start}"
        return f"{quote_sheet(self.sheet)}!{start}:{absolute(self.last_row, self.last_col)}"


# --------------------------------------------------------------------------------------------
# Hints shown in 填写要求, in the data validation prompts and in 填表说明
KIND_HINT = {
    "count": "≥0 的整数",
    "money": "≥0，最多 2 位小数",
    "yuan": "≥0，最多 2 位小数",
    "yesno": "填“是”或“否”",
    "choice": "从下拉列表中选择",
    "date": "日期，如 2025-03-01",
    "text": "文字",
    "code": "文本格式，完整填写，不要省略前导 0",
}


def field_hint(spec: FieldSpec) -> str:
    hint = KIND_HINT[spec.kind]
    if spec.kind == "choice":
        hint = f"{hint}：{'、'.join(spec.choices)}"
    if spec.unit:
        hint = f"{hint}（单位：{spec.unit}）"
    return hint if spec.required else f"{hint}；可不填"


def parts_of(code: str) -> tuple[tuple[str, ...], ...]:
    """The SUMS entries whose total is ``code``."""
    return tuple(parts for total, parts in SUMS if total == code)


def indicator_hint(ind: Indicator) -> str:
    hint = KIND_HINT[ind.kind]
    if ind.part_of:
        whole = BY_CODE[ind.part_of]
        hint += f"；不大于【{whole.label}】（{whole.code}）"
    for parts in parts_of(ind.code):
        hint += "；应等于" + "+".join(f"【{BY_CODE[p].label}】" for p in parts)
    return hint


# --------------------------------------------------------------------------------------------
# 封面: one label/value pair per cover field
COVER_TITLE_ROW = 1
COVER_FIRST_ROW = 3
COVER_LABEL_COL, COVER_VALUE_COL, COVER_HINT_COL = 1, 2, 3
# The cover fields the template fills in and locks: the township and the period it is made for.
PREFILLED_COVER = ("township_code", "township_name", "period")
COVER_SPECS: tuple[FieldSpec, ...] = field_specs(Cover)
assert set(PREFILLED_COVER) <= {s.name for s in COVER_SPECS}


def cover_row(field_name: str) -> int:
    return COVER_FIRST_ROW + [s.name for s in COVER_SPECS].index(field_name)


def cover_name(field_name: str) -> str:
    return f"{NAME_PREFIX}COVER_{field_name}"


# Under the cover fields, after one blank row: where the head of unit and the filler sign (label
# in column A, a line to sign on in column B) and a box for the unit's stamp (column C).
# Labels differ from the cover fields' (the reader finds inputs by their labels).
COVER_SIGNATURES = ("单位负责人（签字）", "填表人（签字）", "签字日期")
COVER_STAMP = "单位（盖章）"
SIGNATURE_FIRST_ROW = COVER_FIRST_ROW + len(COVER_SPECS) + 1
COVER_LAST_ROW = SIGNATURE_FIRST_ROW + 2 * len(COVER_SIGNATURES) - 1  # a blank row after each line


# --------------------------------------------------------------------------------------------
# 主要指标: code | label | unit | value | self-check | hint
@dataclass(frozen=True)
class Column:
    key: str
    header: str
    width: int


SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("code", "代码", 8),
    Column("label", "指标名称", 34),
    Column("unit", "计量单位", 10),
    Column("value", "本期数值", 16),
    Column("check", "自查", 8),
    Column("note", NOTE_LABEL, 18),  # narrow enough that 主要指标 still prints portrait, one page wide
    Column("hint", "填写要求", 52),
)
SUMMARY_COL = {c.key: i for i, c in enumerate(SUMMARY_COLUMNS, start=1)}
NOTE_HEADER = NOTE_LABEL
SUMMARY_TITLE_ROW = 1
SUMMARY_HEADER_ROW = 2
SUMMARY_FIRST_ROW = 3
RATES_LABEL = "派生比率（自动计算，无需填写）"
RATE_UNIT = "%"
CHECK_MARK = "✗"


@dataclass(frozen=True)
class SummaryRow:
    """One row of the summary layout: a section header, an indicator, the rates header or a rate."""

    kind: str  # "section" | "indicator" | "rates" | "rate"
    code: str  # section code, indicator code, "" (rates header) or rate code
    label: str
    unit: str
    row: int
    indicator: Indicator | None = None
    rate: Rate | None = None


def summary_rows(first_row: int = SUMMARY_FIRST_ROW) -> tuple[SummaryRow, ...]:
    """The summary layout in order, starting at ``first_row``; the master's 汇总 sheet reuses it.

    Each section gets a header row followed by its indicators; after one blank row comes the
    rates block (a header row, then one row per rate).
    """
    rows: list[SummaryRow] = []
    row = first_row
    for section in SECTIONS:
        rows.append(SummaryRow("section", section.code, f"{section.code} {section.label}", "", row))
        row += 1
        for ind in indicators_in(section.code):
            rows.append(SummaryRow("indicator", ind.code, ind.label, ind.unit, row, indicator=ind))
            row += 1
    row += 1
    rows.append(SummaryRow("rates", "", RATES_LABEL, "", row))
    for rate in RATES:
        row += 1
        rows.append(SummaryRow("rate", rate.code, rate.label, RATE_UNIT, row, rate=rate))
    return tuple(rows)


SUMMARY_ROWS = summary_rows()
SUMMARY_ROW_OF = {r.code: r.row for r in SUMMARY_ROWS if r.kind in ("indicator", "rate")}
RATE_BY_CODE = {r.code: r for r in RATES}


def indicator_name(code: str) -> str:
    return f"{NAME_PREFIX}{code}"


def note_name(code: str) -> str:
    """The defined name of an indicator's 情况说明 cell."""
    return f"{NAME_PREFIX}NOTE_{code}"


def _isnumber_guard(refs: Iterable[str], condition: str) -> str:
    return "AND(" + ",".join([*(f"ISNUMBER({r})" for r in refs), condition]) + ")"


def _number_condition(ind: Indicator, v: str) -> str:
    """A number the validator rejects: negative, a count with decimals, money with more than 2."""
    if ind.is_money:
        return f"AND(ISNUMBER({v}),OR({v}<0,ROUND({v},2)<>{v}))"
    return f"AND(ISNUMBER({v}),OR({v}<0,{v}<>INT({v})))"


def self_check_formula(code: str, ref: Callable[[str], str] = indicator_name) -> str:
    """A formula showing ✗ where the validator would object to the value of ``code``.

    Marked: text or 是/否 in the number cell ("1414人", full-width digits kept as text: the
    template's sums and rates cannot use them), a negative number or one with too many
    decimals, a 其中 part larger than its whole, parts that do not add up to ``code``. A blank
    cell is not marked here (the 自查结论 counts blanks). Parts are added with SUM, which skips
    text, and everything is wrapped in IFERROR, so the column never shows ``#VALUE!``.

    ``ref`` turns an indicator code into a reference (the defined name by default), so the
    same rule text serves other workbooks with their own references.
    """
    ind = BY_CODE[code]
    v = ref(code)
    conditions = [_number_condition(ind, v)]
    if ind.part_of:
        whole = ref(ind.part_of)
        conditions.append(_isnumber_guard((v, whole), f"{v}>{whole}"))
    for parts in parts_of(code):
        refs = [ref(p) for p in parts]
        conditions.append(_isnumber_guard((v, *refs), f"SUM({','.join(refs)})<>{v}"))
    test = conditions[0] if len(conditions) == 1 else "OR(" + ",".join(conditions) + ")"
    mark = f'"{CHECK_MARK}"'
    return f'=IFERROR(IF(OR(ISTEXT({v}),ISLOGICAL({v})),{mark},IF({test},{mark},"")),{mark})'


CHECK_PASSED = "自查通过"
CHECK_CONCLUSION_LABEL = "自查结论"
# 主要指标: the 自查结论 sits in the title row, its label in the 自查 column, the text next to it.
CHECK_CONCLUSION_ROW = SUMMARY_TITLE_ROW


def check_conclusion_formula() -> str:
    """``自查通过`` / ``还有 3 处需要修改`` / ``还有 12 项未填写``, counted over the 主要指标 sheet.

    Plain ranges of the sheet (its rows cannot be inserted: the sheet is protected); the value
    range ends at the last indicator, so the rates below are not counted as blanks.
    """
    last_indicator = max(SUMMARY_ROW_OF[i.code] for i in INDICATORS)
    last = SUMMARY_ROWS[-1].row
    check = col_letter(SUMMARY_COL["check"])
    value = col_letter(SUMMARY_COL["value"])
    marks = f'COUNTIF({check}{SUMMARY_FIRST_ROW}:{check}{last},"{CHECK_MARK}")'
    blanks = f"({len(INDICATORS)}-COUNTA({value}{SUMMARY_FIRST_ROW}:{value}{last_indicator}))"
    return (
        f'=IF({marks}>0,"还有 "&{marks}&" 处需要修改",'
        f'IF({blanks}>0,"还有 "&{blanks}&" 项未填写","{CHECK_PASSED}"))'
    )


def rate_formula(rate: Rate, ref: Callable[[str], str] = indicator_name) -> str:
    """A rate computed from values, never typed; blank (not ``#VALUE!`` or ``#DIV/0!``) while
    either value is missing or not a number, or the denominator is 0."""
    num, den = ref(rate.numerator), ref(rate.denominator)
    return f'=IF(AND(ISNUMBER({num}),ISNUMBER({den})),IF({den}>0,{num}/{den},""),"")'


# --------------------------------------------------------------------------------------------
# Detail tables
@dataclass(frozen=True)
class DetailTable:
    key: str  # model location prefix: "roster" | "ledger"
    model: type[BaseModel]
    sheet: str
    title: str
    table_name: str
    range_name: str
    capacity: int  # pre-formatted input rows
    title_row: int = 1
    hint_row: int = 2
    header_row: int = 3

    @property
    def specs(self) -> tuple[FieldSpec, ...]:
        return field_specs(self.model)

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(s.header for s in self.specs)

    @property
    def first_row(self) -> int:
        return self.header_row + 1

    @property
    def last_row(self) -> int:
        return self.header_row + self.capacity

    @property
    def last_col(self) -> int:
        return len(self.specs)

    @property
    def columns(self) -> dict[str, int]:
        return {s.name: i for i, s in enumerate(self.specs, start=1)}

    @property
    def table_ref(self) -> str:
        return f"A{self.header_row}:{col_letter(self.last_col)}{self.last_row}"

    @property
    def data_ref(self) -> Ref:
        return Ref(self.sheet, self.first_row, 1, self.last_row, self.last_col)


ROSTER = DetailTable(
    "roster", RosterRow, SHEET_ROSTER, "基层工会名册（每个单位填一行）", "T_ROSTER", "NB_ROSTER", capacity=500
)
LEDGER = DetailTable(
    "ledger", LedgerRow, SHEET_LEDGER, "困难职工帮扶台账（每次帮扶填一行）", "T_LEDGER", "NB_LEDGER", capacity=300
)
# A return reported upward (county to city) carries this instead of the ledger's names and IDs.
AID = DetailTable(
    "aid", AidRow, SHEET_AID, "困难职工帮扶汇总（上报上级时代替台账；乡镇报表不填）", "T_AID", "NB_AID", capacity=60
)
DETAIL_TABLES: tuple[DetailTable, ...] = (ROSTER, LEDGER, AID)
TABLE_BY_KEY = {t.key: t for t in DETAIL_TABLES}

# --------------------------------------------------------------------------------------------
# Printing: how each sheet of the template prints (rendered by template.py)
GUIDE_LAST_COL = 2
COVER_LAST_COL = COVER_HINT_COL


def template_page(sheet: str, title: str, last_row: int | None = None) -> PageSetup:
    """The page setup of one template sheet; ``last_row`` is the guide's (its text decides it).

    The guide and the cover print on one portrait page each (the cover is signed and
    stamped); 主要指标 prints one page wide, the header row repeated, so the 自查 column is on
    the page of its indicator; the detail tables print landscape one page wide with their
    header rows repeated and no print area (how many rows a township fills is not known here).
    """
    if sheet == SHEET_GUIDE:
        return PageSetup(title, PORTRAIT, 1, 1, last_row, GUIDE_LAST_COL)
    if sheet == SHEET_COVER:
        return PageSetup(title, PORTRAIT, 1, 1, COVER_LAST_ROW, COVER_LAST_COL)
    if sheet == SHEET_SUMMARY:
        orientation, wide = pages_wide([c.width for c in SUMMARY_COLUMNS])
        rows = (SUMMARY_HEADER_ROW, SUMMARY_HEADER_ROW)
        return PageSetup(title, orientation, wide, 0, SUMMARY_ROWS[-1].row, len(SUMMARY_COLUMNS), title_rows=rows)
    table = next(t for t in DETAIL_TABLES if t.sheet == sheet)
    orientation, wide = pages_wide([s.width for s in table.specs])
    return PageSetup(title, LANDSCAPE if wide > 1 else orientation, wide, 0, title_rows=(table.hint_row, table.header_row))


# --------------------------------------------------------------------------------------------
# _meta: key in column A, value in column B
META_KEYS = ("template_version", "schema_fingerprint", "township_code", "township_name", "period", "generated_at")
META_KEY_COL, META_VALUE_COL = 1, 2
# A receipt (回执) sent back to a township: its first sheet, and the line added to its copy's
# _meta, so the reader recognises a receipt even when the 回执 sheet was deleted.
SHEET_RECEIPT = "回执"
META_RECEIPT = ("document", "回执")


def meta_row(key: str) -> int:
    return META_KEYS.index(key) + 1


@cache
def default_names() -> dict[str, Ref]:
    """Every defined name of a freshly generated template and where it points."""
    names = {cover_name(s.name): Ref.cell(SHEET_COVER, cover_row(s.name), COVER_VALUE_COL) for s in COVER_SPECS}
    for ind in INDICATORS:
        names[indicator_name(ind.code)] = Ref.cell(SHEET_SUMMARY, SUMMARY_ROW_OF[ind.code], SUMMARY_COL["value"])
        names[note_name(ind.code)] = Ref.cell(SHEET_SUMMARY, SUMMARY_ROW_OF[ind.code], SUMMARY_COL["note"])
    for table in DETAIL_TABLES:
        names[table.range_name] = table.data_ref
    return names


# --------------------------------------------------------------------------------------------
# CellMap: model location -> (sheet, cell)
Position = tuple[str, int, int]  # sheet, row, col


@dataclass
class TablePlacement:
    """Where one detail table's rows sit: columns by field, sheet rows of the non-blank rows."""

    sheet: str
    columns: dict[str, int]
    rows: list[int] = field(default_factory=list)
    first_row: int = 1

    def row_of(self, index: int) -> int:
        if index < len(self.rows):
            return self.rows[index]
        last = self.rows[-1] if self.rows else self.first_row - 1
        return last + index - len(self.rows) + 1


@dataclass
class CellMap:
    """Maps model location strings to Excel cells; built by the reader or from the layout."""

    cover: dict[str, Position]
    summary: dict[str, Position]  # indicator and rate codes
    tables: dict[str, TablePlacement]
    notes: dict[str, Position] = field(default_factory=dict)  # indicator code -> its 情况说明 cell

    @classmethod
    def default(cls) -> "CellMap":
        return cls.from_names({}, {})

    @classmethod
    def from_names(cls, names: Mapping[str, str | Ref], rows: Mapping[str, list[int]] | None = None) -> "CellMap":
        """From defined names as found in a file (name -> reference text); layout defaults fill gaps.

        ``rows`` gives, per detail table key, the sheet rows of its non-blank rows.
        """
        parsed = dict(default_names())
        for name, target in names.items():
            ref = target if isinstance(target, Ref) else Ref.parse(target)
            if ref is not None:
                parsed[name.upper()] = ref
        upper = {k.upper(): v for k, v in parsed.items()}

        def pos(name: str) -> Position:
            ref = upper[name.upper()]
            return ref.sheet, ref.row, ref.col

        cover = {s.name: pos(cover_name(s.name)) for s in COVER_SPECS}
        summary = {ind.code: pos(indicator_name(ind.code)) for ind in INDICATORS}
        value_col = SUMMARY_COL["value"]
        summary.update({r.code: (SHEET_SUMMARY, SUMMARY_ROW_OF[r.code], value_col) for r in RATES})
        tables = {}
        for t in DETAIL_TABLES:
            ref = upper[t.range_name.upper()]
            columns = {name: ref.col + i - 1 for name, i in t.columns.items()}
            tables[t.key] = TablePlacement(ref.sheet, columns, list((rows or {}).get(t.key, [])), ref.row)
        notes = {ind.code: pos(note_name(ind.code)) for ind in INDICATORS}
        return cls(cover, summary, tables, notes)

    def locate(self, field: str | None) -> tuple[str | None, str | None]:
        """``summary.A08`` -> ("主要指标", "D12"); ``roster.3.uscc`` -> ("基层工会名册", "B7");
        ``roster`` -> ("基层工会名册", None); anything unknown -> (None, None)."""
        if not field:
            return None, None
        head, _, rest = field.partition(".")
        if head == "cover":
            return self._cell(self.cover, rest, SHEET_COVER)
        if head == "summary":
            return self._cell(self.summary, rest, SHEET_SUMMARY)
        if head == "notes":
            return self._cell(self.notes, rest, SHEET_SUMMARY)
        table = self.tables.get(head)
        if table is None:
            return None, None
        if not rest:
            return table.sheet, None
        index, _, column = rest.partition(".")
        if not index.isdigit() or (column and column not in table.columns):
            return table.sheet, None
        col = table.columns[column] if column else min(table.columns.values())
        return table.sheet, a1(table.row_of(int(index)), col)

    @staticmethod
    def _cell(cells: dict[str, Position], key: str, sheet: str) -> tuple[str | None, str | None]:
        if not key:
            return sheet, None
        if key not in cells:
            return sheet, None
        sheet, row, col = cells[key]
        return sheet, a1(row, col)

    @staticmethod
    def label(field: str | None) -> str | None:
        """The indicator or column label a location refers to (None for a whole sheet/row)."""
        if not field:
            return None
        parts = field.split(".")
        if parts[0] == "summary" and len(parts) > 1:
            item = BY_CODE.get(parts[1]) or RATE_BY_CODE.get(parts[1])
            return item.label if item else None
        if parts[0] == "notes" and len(parts) > 1:
            ind = BY_CODE.get(parts[1])
            return f"{ind.label}{NOTE_HEADER}" if ind else None
        if parts[0] == "cover" and len(parts) > 1:
            return next((s.label for s in COVER_SPECS if s.name == parts[1]), None)
        table = TABLE_BY_KEY.get(parts[0])
        if table and len(parts) > 2:
            return next((s.label for s in table.specs if s.name == parts[2]), None)
        return None

    def place(self, finding: Finding) -> Finding:
        """A copy of ``finding`` with sheet, cell and label filled and the message prefixed with
        where it is: ``「主要指标」D12【其中：女职工】填写了 620，应不大于【职工人数】500``."""
        sheet, cell = self.locate(finding.field)
        sheet, cell = finding.sheet or sheet, finding.cell or cell
        label = finding.label or self.label(finding.field)
        placed = finding.model_copy(update={"sheet": sheet, "cell": cell, "label": label})
        prefix = placed.where + (f"【{label}】" if label else "")
        message = finding.message if finding.message.startswith(prefix) else prefix + finding.message
        return placed.model_copy(update={"message": message})
