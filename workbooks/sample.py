"""Realistic, valid sample returns for tests, the demo and benchmarks.

:func:`sample_return` makes the raw cell values a careful township would type (counts as int,
money as float with two decimals, yes/no as 是/否, dates as ``date``, codes as text), consistent
with every rule of the domain brief: 其中 ≤ 合计, parts add up, roster and ledger agree with the
summary, USCC and ID numbers carry correct check characters, dates inside the period.

Values are deterministic for (township, period, seed). What a township *is* (its units, its
people, its size) depends on (township, seed) only and the period adds a few per cent of
drift, so consecutive periods of the same seed compare like real years do.

:func:`fill_template` writes such values into a generated template through its defined names;
:func:`save_as_xls` / :func:`save_as_ods` re-save a filled return with xlwt / odfpy so the
reader is tested on files written by other real writers.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import get_args

from openpyxl import Workbook, load_workbook
from stdnum.cn import ric, uscc

from nianbao.schemas.county import Township
from nianbao.schemas.indicators import BY_CODE, INDICATORS, SUMS
from nianbao.schemas.models import AidMethod, HardshipType, Period, UnitType
from nianbao.workbooks import layout as L
from nianbao.workbooks.template import build_template

YES, NO = "是", "否"
CENT = Decimal("0.01")
# A return is filled in the days after the period ends (the demo county's due date is the 15th).
FILL_WINDOW_DAYS = (1, 14)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔谭陆范金石贾夏付方白邹孟熊秦邱江尹薛闫段雷侯史陶贺顾毛郝龚邵万"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红建国志新春梅秀凤云海波宁林斌浩亮"
BRANDS = (
    "宏达 恒通 鑫源 华丰 金利 永盛 隆昌 福瑞 兴旺 瑞祥 天成 润泽 嘉和 中原 康泰 正大 广源 博远 信诚 同力 "
    "立信 万家 昊天 豫丰 新锐 东方 盛世 源丰 富康 安泰"
).split()
TRADES = "机械制造 纺织 食品 建材 物流 商贸 电子 化工 农业开发 建筑工程 服装 印刷 家具 汽车配件 环保科技".split()
VILLAGE_SUFFIX = "庄营寨集店湾岗楼"
# "{v}" is a village name.
PUBLIC_UNITS = {
    "机关": ("人民政府", "财政所", "司法所", "市场监管所", "派出所", "税务分局", "自然资源所"),
    "事业单位": ("{v}小学", "{v}幼儿园", "{v}卫生室", "中心小学", "初级中学", "卫生院", "农业服务中心", "文化站", "敬老院"),
    "社会组织": ("个体劳动者协会", "商会", "物流行业协会", "家政服务协会", "{v}老年协会"),
    "其他": ("{v}村民委员会", "{v}农民专业合作社", "{v}社区居民委员会"),
}
# Real Henan county codes in use since 1983 (stdnum checks an ID's birth place against its birth year).
ID_REGIONS = ("410102", "410105", "410122", "410221", "410323", "410422", "410522", "410721", "410822")
# GB 11714 organization code: the 9th character checks the first 8.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# USCC registration authority + organization type by unit type (GB 32100-2015).
_USCC_KIND = {"企业": "91", "机关": "11", "事业单位": "12", "社会组织": "52", "其他": "93"}
# Typical magnitudes for one township (domain brief), by unit, before scaling by township size.
# Drawn log-uniformly: the brief's figures for 人 range from 15 (慰问工伤) to 4500 (覆盖职工).
_MAGNITUDE = {
    "家": (8, 60), "个": (5, 40), "人": (15, 3000), "人次": (10, 700), "件": (8, 60), "户": (30, 600),
    "条": (5, 40), "项": (2, 15), "份": (10, 90), "次": (5, 30), "场": (2, 20), "万元": (1.0, 80.0),
}


def _rng(*parts: object) -> random.Random:
    return random.Random("|".join(map(str, ("nianbao-sample", *parts))))


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _money(value: Decimal | float) -> float:
    return float(Decimal(str(value)).quantize(CENT))


def make_uscc(rng: random.Random, unit_type: str, region: str) -> str:
    body = [rng.randrange(10) for _ in range(8)]
    check = 11 - sum(d * w for d, w in zip(body, _ORG_WEIGHTS)) % 11
    org = "".join(map(str, body)) + {10: "X", 11: "0"}.get(check, str(check))
    first17 = _USCC_KIND[unit_type] + region + org
    return first17 + uscc.calc_check_digit(first17)


def make_id_number(rng: random.Random) -> str:
    while True:
        birth = date(1970, 1, 1) + timedelta(days=rng.randrange(365 * 30))
        first17 = f"{rng.choice(ID_REGIONS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
        number = first17 + ric.calc_check_digit(first17 + "0")
        if ric.is_valid(number):
            return number


def fill_window(period: str) -> tuple[date, date]:
    """The days a return for ``period`` is filled in (see FILL_WINDOW_DAYS)."""
    last = Period(period).last_day
    return last + timedelta(days=FILL_WINDOW_DAYS[0]), last + timedelta(days=FILL_WINDOW_DAYS[1])


# --------------------------------------------------------------------------------------------
def _village(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(VILLAGE_SUFFIX)


def _unit_name(rng: random.Random, township: Township, unit_type: str) -> str:
    if unit_type == "企业":
        return f"{township.name}{rng.choice(BRANDS)}{rng.choice(TRADES)}有限公司"
    return township.name + rng.choice(PUBLIC_UNITS[unit_type]).format(v=_village(rng))


def _units(township: Township, seed: int, count: int) -> list[dict]:
    """The township's base-level units: stable across periods for one seed."""
    rng = _rng(township.code, seed, "units")
    region = township.code[:6]
    seen_uscc: set[str] = set()
    seen_name: set[str] = set()
    units = []
    for _ in range(count):
        unit_type = rng.choices(get_args(UnitType), weights=(70, 6, 10, 6, 8))[0]
        for _ in range(20):
            name = _unit_name(rng, township, unit_type)
            if name not in seen_name:
                break
        else:
            name = f"{name[:-2]}{_village(rng)}分公司"
        seen_name.add(name)
        employees = int(rng.lognormvariate(3.3, 0.9)) + 3 if unit_type == "企业" else rng.randint(5, 60)
        code = make_uscc(rng, unit_type, region)
        while code in seen_uscc:
            code = make_uscc(rng, unit_type, region)
        seen_uscc.add(code)
        unionized = rng.random() < 0.85
        units.append(
            {
                "name": name,
                "uscc": code,
                "unit_type": unit_type,
                "employees": employees,
                "female_share": rng.uniform(0.2, 0.65),
                "migrant_share": rng.uniform(0.0, 0.7) if unit_type == "企业" else rng.uniform(0.0, 0.1),
                "member_share": rng.uniform(0.75, 1.0),
                # a unit that gets its union in a later year has none yet in earlier periods
                "union_year": rng.randint(1985, 2026) if unionized else None,
                "flags": {k: rng.random() < p for k, p in (("contract", 0.8), ("wage", 0.7), ("open", 0.75), ("congress", 0.7), ("dues", 0.9))},
                "dues_per_head": rng.uniform(0.04, 0.12),  # 万元 per employee and year
            }
        )
    return units


def _roster_row(unit: dict, rng: random.Random, period: Period) -> dict:
    employees = max(1, round(unit["employees"] * rng.uniform(0.95, 1.05)))
    has_union = unit["union_year"] is not None and unit["union_year"] <= period.year
    flags = {k: has_union and v for k, v in unit["flags"].items()}
    pays_dues = flags["dues"]
    dues = _money(max(0.01, employees * unit["dues_per_head"] * rng.uniform(0.95, 1.05))) if pays_dues else None
    if period.half and dues is not None:
        dues = _money(max(0.01, dues / 2))
    return {
        "name": unit["name"],
        "uscc": unit["uscc"],
        "unit_type": unit["unit_type"],
        "employees": employees,
        "female_employees": round(employees * unit["female_share"]),
        "migrant_employees": round(employees * unit["migrant_share"]),
        "members": round(employees * unit["member_share"]) if has_union else 0,
        "has_union": YES if has_union else NO,
        "union_year": unit["union_year"] if has_union else None,
        "has_contract": YES if flags["contract"] else NO,
        "has_wage_agreement": YES if flags["wage"] else NO,
        "has_open_affairs": YES if flags["open"] else NO,
        "has_congress": YES if flags["congress"] else NO,
        "pays_dues": YES if pays_dues else NO,
        "dues_amount": dues,
        "township": None,  # filled only on a return reported upward
    }


def _ledger(township: Township, seed: int, period: Period, count: int, employers: list[str]) -> list[dict]:
    base = _rng(township.code, seed, "ledger")
    rng = _rng(township.code, seed, period, "ledger")
    people, seen = [], set()
    while len(people) < count:
        number = make_id_number(base)
        if number in seen:
            continue
        seen.add(number)
        people.append((_name(base), number, base.choice(get_args(HardshipType)), base.choice((500, 800, 1000, 1000, 1500, 2000, 3000, 5000))))
    days = (period.last_day - period.first_day).days
    rows = []
    for name, number, hardship, amount in people:
        rows.append(
            {
                "name": name,
                "id_number": number,
                "employer": rng.choice(employers) if employers else f"{township.name}{rng.choice(BRANDS)}有限公司",
                "hardship_type": hardship,
                "aid_method": "助学" if hardship == "子女就学" else rng.choice(get_args(AidMethod)),
                "amount": Decimal(amount) + (Decimal(rng.randrange(100)) if rng.random() < 0.2 else 0) + rng.choice((0, 0, 0, Decimal("0.5"))),
                "aid_date": period.first_day + timedelta(days=rng.randint(0, days)),
            }
        )
    # D04 = round(sum / 10000, 2): keep the sum away from a rounding tie so that any rounding
    # mode gives the same figure.
    while rows and abs(sum(r["amount"] for r in rows) * 100 % 10000 - 5000) < 100:
        rows[-1]["amount"] += 10
    for row in rows:
        row["amount"] = _money(row["amount"])
    rows.sort(key=lambda r: r["aid_date"])
    return rows


def _whole_first(codes: list[str]) -> list[str]:
    """Indicators ordered so that every whole comes before its 其中 parts."""
    order: list[str] = []

    def visit(code: str) -> None:
        if code in order:
            return
        whole = BY_CODE[code].part_of
        if whole:
            visit(whole)
        order.append(code)

    for code in codes:
        visit(code)
    return order


def _summary(township: Township, seed: int, period: Period, roster: list[dict], ledger: list[dict]) -> dict:
    base = _rng(township.code, seed, "summary")
    rng = _rng(township.code, seed, period, "summary")
    size = base.uniform(0.6, 1.8)
    half = 0.5 if period.half else 1.0

    def count(field: str) -> int:
        return sum(1 for r in roster if r[field] == YES)

    def total(field: str) -> Decimal:
        return sum((Decimal(str(r[field])) for r in roster if r[field] is not None), Decimal(0))

    # Inter-sheet rules: the summary agrees with the roster and the ledger.
    fixed: dict[str, int | Decimal] = {
        "A03": count("has_union"),
        "A05": sum(1 for r in roster if r["union_year"] == period.year),
        "A07": int(total("employees")),
        "A08": int(total("female_employees")),
        "A09": int(total("migrant_employees")),
        "A10": int(total("members")),
        "A16": count("has_congress"),
        "A17": count("has_open_affairs"),
        "B01": count("has_contract"),
        "B02": count("has_wage_agreement"),
        "F01": count("pays_dues"),
        "F03": total("dues_amount"),
        "D03": len(ledger),
        "D04": (sum((Decimal(str(r["amount"])) for r in ledger), Decimal(0)) / 10000).quantize(CENT, ROUND_HALF_EVEN),
    }
    # Realism beyond the rules: every legal unit of the roster should have a union, one union
    # per unionized unit, female / migrant members no more than female / migrant employees.
    floors = {"A02": len(roster), "A04": fixed["A03"]}
    share = {"A11": ("A08", "A07"), "A12": ("A09", "A07")}
    near = {"F04": "F03"}  # the dues target is close to what was collected

    def lower(code: str) -> int | Decimal:
        parts = [lower(i.code) for i in INDICATORS if i.part_of == code]
        return max([fixed.get(code, 0), floors.get(code, 0), *parts])

    values: dict[str, int | Decimal] = {}
    split = {part for _, parts in SUMS for part in parts}
    for code in _whole_first([i.code for i in INDICATORS]):
        ind = BY_CODE[code]
        draw, drift, fraction = base.random(), rng.uniform(0.95, 1.05), base.uniform(0.2, 0.95)
        if code in fixed:
            values[code] = fixed[code]
            continue
        if code in split:
            continue  # set from its total below
        lo = lower(code)
        if ind.part_of:
            whole = values[ind.part_of]
            if code in share:
                num, den = (values[c] for c in share[code])
                fraction = (Decimal(num) / den if den else 0) * Decimal(str(base.uniform(0.85, 1.0)))
            value = lo + (whole - lo) * Decimal(str(fraction))  # within [lower bound, whole]
        elif code in near and values[near[code]]:
            value = values[near[code]] * Decimal(str(base.uniform(0.85, 1.15)))
        else:
            low, high = _MAGNITUDE[ind.unit]
            magnitude = low * (high / low) ** draw * size * half * drift
            value = max(Decimal(str(magnitude)), Decimal(lo), Decimal(1))
        values[code] = value.quantize(CENT) if ind.is_money else int(value)
        for total_code, parts in SUMS:
            if total_code == code:
                remaining = values[code]
                for part in parts[:-1]:
                    values[part] = int(remaining * Decimal(str(base.uniform(0.3, 0.7))))
                    remaining -= values[part]
                values[parts[-1]] = remaining
    return {i.code: _money(values[i.code]) if i.is_money else int(values[i.code]) for i in INDICATORS}


def _cover(township: Township, seed: int, period: Period) -> dict:
    base = _rng(township.code, seed, "cover")
    rng = _rng(township.code, seed, period, "cover")
    phone = f"0391-{base.randint(2000000, 8999999)}" if base.random() < 0.5 else f"1{base.choice('3589')}{base.randrange(10**9):09d}"
    first, last = fill_window(period)
    return {
        "township_code": township.code,
        "township_name": township.name,
        "period": str(period),
        "filler": _name(base),
        "phone": phone,
        "head": _name(base),
        "fill_date": first + timedelta(days=rng.randint(0, (last - first).days)),
        "note": None,
    }


def sample_return(township: Township, period: str, seed: int, roster_rows: int = 30, ledger_rows: int = 12) -> dict:
    """Raw values of a valid return: ``{"cover": {...}, "summary": {...}, "roster": [...], "ledger": [...]}``."""
    period = Period(period)
    rng = _rng(township.code, seed, period, "roster")
    roster = [_roster_row(unit, rng, period) for unit in _units(township, seed, roster_rows)]
    ledger = _ledger(township, seed, period, ledger_rows, [r["name"] for r in roster])
    return {
        "cover": _cover(township, seed, period),
        "summary": _summary(township, seed, period, roster, ledger),
        "roster": roster,
        "ledger": ledger,
        "aid": [],
    }


# --------------------------------------------------------------------------------------------
def fill_workbook(wb: Workbook, values: dict) -> Workbook:
    """Write raw values into a template workbook through its defined names and table ranges."""
    names = {name.upper(): L.Ref.parse(dn.attr_text) for name, dn in wb.defined_names.items()}

    def put(name: str, value: object) -> None:
        ref = names[name.upper()]
        wb[ref.sheet].cell(ref.row, ref.col).value = value

    for field, value in values.get("cover", {}).items():
        put(L.cover_name(field), value)
    for code, value in values.get("summary", {}).items():
        put(L.indicator_name(code), value)
    for code, value in values.get("notes", {}).items():
        put(L.note_name(code), value)
    for table in L.DETAIL_TABLES:
        rows = values.get(table.key, [])
        ref = names[table.range_name.upper()]
        capacity = ref.last_row - ref.row + 1
        if len(rows) > capacity:
            raise ValueError(f"「{table.sheet}」最多 {capacity} 行，给了 {len(rows)} 行")
        ws = wb[ref.sheet]
        header = {ws.cell(ref.row - 1, c).value: c for c in range(ref.col, ref.last_col + 1)}
        columns = {s.name: header[s.header] for s in table.specs}
        for i, row in enumerate(rows):
            for field, value in row.items():
                ws.cell(ref.row + i, columns[field]).value = value
    return wb


def fill_template(template_path: Path | str, values: dict, out_path: Path | str) -> Path:
    out_path = Path(out_path)
    wb = fill_workbook(load_workbook(template_path), values)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out_path)
    return out_path


def write_sample_return(
    out_path: Path | str, township: Township, period: str, seed: int, generated_at: datetime | None = None, **kw
) -> Path:
    """Generate the template and fill it with :func:`sample_return` values in one go."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    wb = fill_workbook(build_template(township, period, generated_at), sample_return(township, period, seed, **kw))
    wb.save(out_path)
    return out_path


# --------------------------------------------------------------------------------------------
def _plain(value: object) -> object:
    """openpyxl reads every date cell as a datetime; a midnight one was typed as a date."""
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


def _cells(xlsx_path: Path | str):
    """(sheet name, sheet state, [(row, col, value)]) of a filled return; formulas are left out
    (openpyxl-written files carry no cached results for them)."""
    wb = load_workbook(xlsx_path)
    for ws in wb.worksheets:
        cells = [
            (c.row, c.column, _plain(c.value))
            for row in ws.iter_rows()
            for c in row
            if c.value is not None and c.data_type != "f"
        ]
        yield ws.title, ws.sheet_state, cells


def save_as_xls(xlsx_path: Path | str, out_path: Path | str) -> Path:
    """Re-save a filled return as .xls with xlwt: same sheet names and cell positions, no
    defined names (the reader falls back to its anchors)."""
    import xlwt

    out_path = Path(out_path)
    book = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for title, state, cells in _cells(xlsx_path):
        ws = book.add_sheet(title)
        ws.visibility = {"visible": 0, "hidden": 1, "veryHidden": 2}[state]
        for row, col, value in cells:
            if isinstance(value, (date, datetime)):
                ws.write(row - 1, col - 1, value, date_style)
            else:
                ws.write(row - 1, col - 1, value)
    book.save(str(out_path))
    return out_path


def save_as_ods(xlsx_path: Path | str, out_path: Path | str) -> Path:
    """Re-save a filled return as .ods with odfpy: same sheet names and cell positions."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.style import Style, TableProperties
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    out_path = Path(out_path)
    doc = OpenDocumentSpreadsheet()
    hidden = Style(name="hiddentable", family="table")
    hidden.addElement(TableProperties(display=False))
    doc.automaticstyles.addElement(hidden)

    def cell(value: object) -> TableCell:
        if isinstance(value, bool):
            c = TableCell(valuetype="boolean", booleanvalue=str(value).lower())
        elif isinstance(value, (int, float)):
            c = TableCell(valuetype="float", value=repr(value))
        elif isinstance(value, (date, datetime)):
            c = TableCell(valuetype="date", datevalue=value.isoformat())
        else:
            c = TableCell(valuetype="string")
        c.addElement(P(text=str(value)))
        return c

    for title, state, cells in _cells(xlsx_path):
        table = Table(name=title, stylename=hidden if state != "visible" else None)
        by_row: dict[int, dict[int, object]] = {}
        for row, col, value in cells:
            by_row.setdefault(row, {})[col] = value
        for row in range(1, max(by_row, default=0) + 1):
            tr = TableRow()
            values = by_row.get(row, {})
            col = 1
            for target in sorted(values):
                if target > col:
                    tr.addElement(TableCell(numbercolumnsrepeated=target - col))
                tr.addElement(cell(values[target]))
                col = target + 1
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    doc.save(str(out_path))
    return out_path
