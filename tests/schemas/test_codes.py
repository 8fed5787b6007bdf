"""The fast USCC / ID checks agree with python-stdnum, which stays the definition."""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from nianbao.schemas.codes import ric_valid, uscc_valid

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def stdnum_uscc(code: str) -> bool:
    return uscc.is_valid(code)


def stdnum_ric(code: str) -> bool:
    try:
        return ric.is_valid(code)
    except KeyError:  # python-stdnum 2.2 raises this for some region codes
        return False


@st.composite
def usccs(draw) -> str:
    """Mostly well-formed codes with the right check character, then perturbed."""
    body = draw(st.text(USCC_ALPHABET, min_size=17, max_size=17))
    code = body + uscc.calc_check_digit(body)
    kind = draw(st.sampled_from(["valid", "check", "char", "length", "any"]))
    if kind == "check":
        code = code[:17] + draw(st.sampled_from(USCC_ALPHABET + "IOZSV"))
    elif kind == "char":
        i = draw(st.integers(0, 17))
        code = code[:i] + draw(st.sampled_from("IOZSVX-* 中１")) + code[i + 1 :]
    elif kind == "length":
        code = code[: draw(st.integers(0, 20))] + draw(st.text(USCC_ALPHABET, max_size=2))
    elif kind == "any":
        code = draw(st.text(min_size=0, max_size=20))
    return code


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(usccs(), max_size=40))
@example(["91419901MA0000000X", "", "9141990100000000１0"])
def test_uscc_valid_agrees_with_stdnum(codes):
    assert list(uscc_valid(codes)) == [stdnum_uscc(c) if c.isascii() else False for c in codes]
    # A non-ASCII code is left to stdnum (which may map look-alike characters): never accepted here.
    assert all(stdnum_uscc(c) for c, ok in zip(codes, uscc_valid(codes)) if ok)


@st.composite
def id_numbers(draw) -> str:
    region = draw(st.sampled_from(["410102", "410181", "110101", "358422", "999999", "419901", "320506"]) | st.from_regex(r"\d{6}", fullmatch=True))
    birth = draw(st.dates())
    first17 = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{draw(st.integers(0, 999)):03d}"
    code = first17 + ric.calc_check_digit(first17 + "0")
    kind = draw(st.sampled_from(["valid", "valid", "check", "date", "char", "any"]))
    if kind == "check":
        code = code[:17] + draw(st.sampled_from("0123456789X"))
    elif kind == "date":
        code = code[:10] + draw(st.from_regex(r"\d{4}", fullmatch=True)) + code[14:]
    elif kind == "char":
        i = draw(st.integers(0, 17))
        code = code[:i] + draw(st.sampled_from("X*A１ ")) + code[i + 1 :]
    elif kind == "any":
        code = draw(st.text("0123456789X", max_size=19))
    return code


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(id_numbers())
@example("358422199001018674")  # stdnum raises KeyError for this region
@example("11010119900307123X")
def test_ric_valid_agrees_with_stdnum(code):
    # Non-ASCII look-alikes never reach the rule (``to_code`` normalises to NFKC); here they are
    # only never accepted, and the rule asks stdnum about every code not accepted.
    assert ric_valid(code) == (stdnum_ric(code) if code.isascii() else False)
    assert not ric_valid(code) or stdnum_ric(code)


def test_region_lookup_agrees_with_stdnum_for_every_region_and_boundary_year():
    """The region verdict read from stdnum's loc.dat text equals stdnum's own for every region
    code the file lists (and its neighbours), at the years its counties begin and end."""
    import re

    from nianbao.schemas import codes

    assert codes._loc() is not None, "stdnum's cn/loc.dat no longer has the shape the fast lookup reads"
    text, blocks = codes._loc()
    regions = set()
    for province, spans in blocks.items():
        for start, end in spans:
            regions.update(province + c for c in re.findall(r"^  (\d{4}) ", text[start:end], re.M))
    regions |= {f"{int(r) + 1:06d}" for r in list(regions)[::7]} | {"000000", "999999", "419901", "358422"}
    checked = 0
    for region in sorted(regions):
        county = codes._county_text(region) or ""
        years = {1900, 1985, 2025} | {int(y) + d for y in re.findall(r"\d{4}", county) for d in (-1, 0, 1)}
        for year in years:
            code = f"{region}{year:04d}0101"
            assert codes._place_ok.__wrapped__(region, year) == codes._stdnum_place_ok(region, year), code
            checked += 1
    assert checked > 20000
