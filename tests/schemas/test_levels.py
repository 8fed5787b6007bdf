"""Reporting configs at every level: the county form of today, and [unit]/[[units]] with a level."""

import pytest

from nianbao.schemas.county import DEMO_CONFIG, ConfigError, load_county
from nianbao.schemas.levels import Level

CITY = """
[unit]
code = "419900"
name = "清源市"
level = "市"

[[units]]
code = "419901"
name = "清河县"

[[units]]
code = "{second}"
name = "柳溪县"

[[periods]]
period = "2025"
due = 2026-01-31
"""


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_county_config_of_today_stays_valid_and_is_a_county():
    county = load_county(DEMO_CONFIG)
    assert county.level is Level.COUNTY and county.info.child == "乡镇" and county.info.by_child == "分乡镇"
    assert len(county.townships) == 18


def test_a_city_config_names_its_level_and_its_counties(tmp_path):
    city = load_county(write(tmp_path, CITY.format(second="419902")))
    assert (city.county_code, city.county_name, city.level) == ("419900", "清源市", Level.CITY)
    assert [t.code for t in city.townships] == ["419901", "419902"]
    assert city.info.by_child == "分县" and city.info.whole == "全市"


@pytest.mark.parametrize(
    "second, says",
    [
        ("429902", "不以市代码 419900 的前 4 位 4199 开头"),  # a county of another city
        ("419901100", "县代码 419901100 格式不对"),  # a township where a county belongs
        ("419900", "与本市代码相同"),
    ],
)
def test_a_city_config_checks_membership_by_the_4_digit_prefix(tmp_path, second, says):
    with pytest.raises(ConfigError, match=says):
        load_county(write(tmp_path, CITY.format(second=second)))


def test_a_county_config_checks_its_townships_by_the_6_digit_prefix(tmp_path):
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace('code = "419901117"', 'code = "419902117"')
    with pytest.raises(ConfigError, match="419902117 不以县代码 419901 的前 6 位"):
        load_county(write(tmp_path, text))
    bad_shape = DEMO_CONFIG.read_text(encoding="utf-8").replace('code = "419901117"', 'code = "419901"')
    with pytest.raises(ConfigError, match="乡镇代码 419901 格式不对"):
        load_county(write(tmp_path, bad_shape))


def test_an_unknown_level_or_key_in_unit_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="level"):
        load_county(write(tmp_path, CITY.format(second="419902").replace('level = "市"', 'level = "区"')))
    with pytest.raises(ConfigError, match="unit.leader"):
        load_county(write(tmp_path, CITY.format(second="419902").replace('level = "市"', 'level = "市"\nleader = "某"')))
