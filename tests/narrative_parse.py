"""Reading the figures back out of the statistics paragraph (nianbao.narrative), independently
of how it was written: a label from the catalogue right after a delimiter, then the number and
the unit, then optionally the year-on-year phrase in brackets."""

from __future__ import annotations

import math
import re

from nianbao.schemas.indicators import INDICATORS, RATES

_BEFORE = r"(?:^|[，、；：。（]|其中)"
_NUMBER = r"(\d+(?:\.\d+)?)"
_YOY = r"（(?:比上年(增加|减少)(\d+(?:\.\d+)?)(\S+?)(?:，(增长|下降)(\d+\.\d)%)?|与上年持平)）"


def check_against(text: str, c) -> int:
    """Assert every figure of ``text`` against consolidation ``c``; returns how many were checked.

    After the indicators, rates and completeness are matched, the digits left in the text may
    only be the period, the due date, the status counts and the like-for-like basis.
    """
    spans: list[tuple[int, int]] = []
    yoy = c.yoy.set_index("code")
    checked = 0
    for ind in INDICATORS:
        label = re.escape(ind.label.removeprefix("其中："))
        found = list(re.finditer(_BEFORE + label + _NUMBER + re.escape(ind.unit) + f"(?:{_YOY})?", text))
        assert len(found) == 1, f"{ind.code} {ind.label}: found {len(found)} times"
        m = found[0]
        spans.append(m.span())
        assert math.isclose(float(m.group(1)), float(c.totals[ind.code]), abs_tol=0.005), ind.code
        checked += 1
        if m.group(0).endswith("（与上年持平）"):
            assert abs(yoy.at[ind.code, "change"]) < 0.005, ind.code
        elif m.group(2):
            change = float(m.group(3)) * (1 if m.group(2) == "增加" else -1)
            assert math.isclose(change, yoy.at[ind.code, "change"], abs_tol=0.005), ind.code
            assert m.group(4) == ind.unit
            if m.group(6):
                share = float(m.group(6)) * (1 if m.group(5) == "增长" else -1)
                assert math.isclose(share, round(yoy.at[ind.code, "share"] * 100, 1), abs_tol=0.051), ind.code
            checked += 1
    for rate in RATES:
        m = re.search(re.escape(rate.label) + r"(\d+\.\d)%(?:（(?:比上年(提高|降低)(\d+\.\d)个百分点|与上年持平)）)?", text)
        assert m, rate.code
        spans.append(m.span())
        assert math.isclose(float(m.group(1)), round(c.rates[rate.code] * 100, 1), abs_tol=0.051), rate.code
        if m.group(2):
            points = float(m.group(3)) * (1 if m.group(2) == "提高" else -1)
            assert math.isclose(points, round(yoy.at[rate.code, "change"] * 100, 1), abs_tol=0.051), rate.code
        checked += 1
    m = re.search(r"报送率(\d+\.\d)%，及时率(\d+\.\d)%", text)
    assert m and math.isclose(float(m.group(1)), round(c.completeness * 100, 1), abs_tol=0.051)
    assert math.isclose(float(m.group(2)), round(c.timeliness * 100, 1), abs_tol=0.051)
    spans.append(m.span())
    rest = list(text)
    for a, b in spans:
        rest[a:b] = " " * (b - a)
    allowed = {str(c.period)[:4], *(str(v) for v in c.status_counts.values()), str(len(c.status)),
               str(c.yoy_townships), str(sum(c.status_counts.get(k, 0) for k in ("已报", "逾期")))}
    if c.due:
        allowed |= {str(c.due.year), str(c.due.month), str(c.due.day)}
    stray = set(re.findall(r"\d+(?:\.\d+)?", "".join(rest))) - allowed
    left = "".join(rest)
    where = [left[max(0, m.start() - 20) : m.end() + 10] for m in re.finditer(r"\d+(?:\.\d+)?", left) if m.group(0) in stray]
    assert not stray, f"numbers in the text that are not consolidated figures: {sorted(stray)} in {where}"
    return checked + 2
