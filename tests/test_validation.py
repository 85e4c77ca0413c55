"""The pure validators, good and bad input, without I/O."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter import geo
from callcenter import validation as v


@pytest.mark.parametrize("raw, sex, birth", [
    ("11010519491231002X", "F", dt.date(1949, 12, 31)),
    ("11010519491231002x", "F", dt.date(1949, 12, 31)),   # lower-case x accepted
    (" 110105 19491231 002X ", "F", dt.date(1949, 12, 31)),  # spaces stripped
    (v.make_id_number("371002", dt.date(1945, 5, 6), 123), "M", dt.date(1945, 5, 6)),
    # born before 371002 (1987) existed: stdnum's ric.validate() would refuse this real case
    (v.make_id_number("371002", dt.date(1931, 1, 1), 2), "F", dt.date(1931, 1, 1)),
])
def test_id_number_good(raw: str, sex: str, birth: dt.date) -> None:
    got = v.id_number(raw)
    assert got.sex == sex and got.birth_date == birth and len(got.number) == 18


@pytest.mark.parametrize("raw, words", [
    ("110105194912310021", "check digit"),
    ("1101051949123100", "18 characters"),
    ("11010519491231002Y", "18 characters"),
    ("", "required"),
    (None, "required"),
    (v.make_id_number("371002", dt.date(2030, 1, 1), 1), "out of range"),
    (v.make_id_number("371002", dt.date(1880, 1, 1), 1), "out of range"),
    (v.make_id_number("991002", dt.date(1945, 1, 1), 1), "province"),
])
def test_id_number_bad(raw: object, words: str) -> None:
    with pytest.raises(v.Invalid) as exc:
        v.id_number(raw)
    assert words in exc.value.reason


def test_id_number_bad_date() -> None:
    body = "37100219451306123"  # month 13, with a correct check digit
    from stdnum.cn import ric

    with pytest.raises(v.Invalid, match="not a date"):
        v.id_number(body + ric.calc_check_digit(body + "0"))


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2000, 12, 31)),
       st.integers(0, 999))
def test_made_id_numbers_always_validate(birth: dt.date, seq: int) -> None:
    number = v.make_id_number("371003", birth, seq)
    got = v.id_number(number)
    assert got.birth_date == birth and got.sex == ("M" if seq % 2 else "F")


def test_mask() -> None:
    assert v.mask_id("371002194505061235") == "3710**********1235"


@pytest.mark.parametrize("raw, e164", [
    ("13806312345", "+8613806312345"),
    ("138 0631 2345", "+8613806312345"),
    ("+86 138-0631-2345", "+8613806312345"),
    ("0631-5201234", "+866315201234"),
    ("(0631)5201234", "+866315201234"),
    ("5201234", "+866315201234"),            # local landline, Weihai area code assumed
    ("010-62345678", "+861062345678"),
])
def test_phone_good(raw: str, e164: str) -> None:
    assert v.phone(raw) == e164


@pytest.mark.parametrize("raw", ["12345678901", "10086", "110", "abc", "", "+1 212 555 0100",
                                 "1380631234"])
def test_phone_bad(raw: str) -> None:
    with pytest.raises(v.Invalid):
        v.phone(raw)


def test_phone_display() -> None:
    assert v.phone_display("+8613806312345") == "138 0631 2345"
    assert v.phone_display("+866315201234") == "0631 520 1234"


@pytest.mark.parametrize("lat, lon, ok", [
    (37.51, 122.12, True), (51.5, -0.12, False), (37.5, 140.0, False), ("x", 1, False),
    (float("nan"), 122.0, False), (None, 122.0, False)])
def test_coordinates(lat: object, lon: object, ok: bool) -> None:
    if ok:
        assert v.coordinates(lat, lon) == (lat, lon)
    else:
        with pytest.raises(v.Invalid):
            v.coordinates(lat, lon)


def test_risk_groups() -> None:
    assert v.risk_groups("失能;独居") == ["独居", "失能"]  # canonical order, deduplicated
    assert v.risk_groups("独居；独居") == ["独居"]
    assert v.risk_groups("") == []
    with pytest.raises(v.Invalid, match="孤寡"):
        v.risk_groups("独居;孤寡")
    with pytest.raises(v.Invalid):
        v.risk_groups(3)


def test_form_collects_every_error() -> None:
    form = v.Form({"name": "", "care_level": 7, "extra": 1})
    form.field("name", v.name)
    form.field("care_level", lambda x: v.integer(x, low=0, high=5))
    form.unknown({"name", "care_level"})
    with pytest.raises(v.ValidationError) as exc:
        form.result()
    assert set(exc.value.fields) == {"name", "care_level", "extra"}


def test_integer_rejects_bools_and_fractions() -> None:
    for bad in (True, 1.5, "x"):
        with pytest.raises(v.Invalid):
            v.integer(bad, low=0, high=10)


def test_gcj02_offset_is_a_few_hundred_metres_in_weihai() -> None:
    lat, lon = 37.51, 122.12
    glat, glon = geo.wgs84_to_gcj02(lat, lon)
    offset = geo.distance_m(lat, lon, glat, glon)
    assert 100 < offset < 800
    back = geo.gcj02_to_wgs84(glat, glon)
    assert geo.distance_m(lat, lon, *back) < 1
    assert geo.wgs84_to_gcj02(51.5, -0.12) == (51.5, -0.12)  # outside China: unchanged
