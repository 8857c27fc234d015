"""身份证号 and phone validation (spec section 4: FORM_ID_NUMBER, FORM_PHONE)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.check.identity import (
    MAINLAND_PROVINCE_CODES,
    PROVINCE_CODES,
    IdCheck,
    PhoneCheck,
    check_character,
    gender_matches,
    make_id_number,
    validate_id_number,
    validate_phone,
)

TODAY = date(2024, 6, 1)
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def reference_check_character(body17: str) -> str:
    """Independent MOD 11-2: find c with sum(a_i * 2^(18-i)) + c ≡ 1 (mod 11)."""
    total = sum(int(ch) * pow(2, 17 - i, 11) for i, ch in enumerate(body17))
    value = (1 - total) % 11
    return "X" if value == 10 else str(value)


def fails(value: str, reason: str, today: date = TODAY) -> IdCheck:
    result = validate_id_number(value, today)
    assert not result.ok, value
    assert result.reason == reason, (value, result)
    assert result.kind is None and result.birth_date is None and result.gender is None
    return result


# ---------------------------------------------------------------- province table


def test_province_tables():
    mainland = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
                "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
                "53", "54", "61", "62", "63", "64", "65"}
    assert set(MAINLAND_PROVINCE_CODES) == mainland and len(mainland) == 31
    assert set(PROVINCE_CODES) == mainland | {"81", "82", "83"}
    assert "71" not in PROVINCE_CODES
    assert PROVINCE_CODES["11"] == "北京市" and PROVINCE_CODES["65"] == "新疆维吾尔自治区"


# ---------------------------------------------------------------- check character


def test_check_character_of_the_standard_examples():
    # GB 11643-1999's own examples
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"


def test_check_character_rejects_bad_bodies():
    for body in ("1101051949123100", "110105194912310021", "1101051949123100X", "１１０１０５１９４９１２３１００２"):
        with pytest.raises(ValueError):
            check_character(body)


@PROPERTY
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_matches_the_reference(body):
    assert check_character(body) == reference_check_character(body)


# ---------------------------------------------------------------- good numbers


def test_well_known_valid_number():
    result = validate_id_number("11010519491231002X", TODAY)
    assert result == IdCheck(ok=True, reason=None, hint=None, kind="resident",
                             birth_date=date(1949, 12, 31), gender="女")


def test_standard_example_born_1880_has_a_valid_check_character_but_is_before_1900():
    assert check_character("44052418800101001") == "4"
    fails("440524188001010014", "出生日期早于 1900-01-01")


def test_lowercase_x_and_surrounding_spaces():
    for value in ("11010519491231002x", "  11010519491231002X ", "\t11010519491231002x\n"):
        result = validate_id_number(value, TODAY)
        assert result.ok and result.birth_date == date(1949, 12, 31), value


def test_make_id_number_known_values():
    assert make_id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"
    assert make_id_number("440524", date(1880, 1, 1), 1) == "440524188001010014"
    number = make_id_number("330106", date(1990, 3, 7), 123)
    assert number[:17] == "33010619900307123" and len(number) == 18
    assert validate_id_number(number, TODAY).gender == "男"


def test_make_id_number_rejects_bad_input():
    with pytest.raises(ValueError):
        make_id_number("11010", date(1990, 1, 1), 1)
    with pytest.raises(ValueError):
        make_id_number("11010a", date(1990, 1, 1), 1)
    with pytest.raises(ValueError):
        make_id_number("110105", date(1990, 1, 1), 1000)
    with pytest.raises(ValueError):
        make_id_number("110105", date(1990, 1, 1), -1)


@pytest.mark.parametrize("region, kind", [
    ("810000", "hk_mo_tw_permit"), ("820000", "hk_mo_tw_permit"), ("830000", "hk_mo_tw_permit"),
    ("931840", "foreigner_permanent"),   # 9 + 31 (上海) + 840 (United States)
    ("911250", "foreigner_permanent"),   # 9 + 11 (北京) + 250 (France)
    ("650102", "resident"),
])
def test_permits_and_foreigner_cards(region, kind):
    number = make_id_number(region, date(1985, 7, 15), 37)
    result = validate_id_number(number, TODAY)
    assert result.ok and result.kind == kind
    assert result.birth_date == date(1985, 7, 15) and result.gender == "男"


def test_permit_must_be_x10000():
    fails(make_id_number("810100", date(1985, 7, 15), 37), "地区代码 810100 不存在")
    fails(make_id_number("830001", date(1985, 7, 15), 37), "地区代码 830001 不存在")
    assert validate_id_number(make_id_number("830000", date(1985, 7, 15), 37), TODAY).ok


def test_foreigner_card_needs_a_province_and_a_real_birth_date():
    fails(make_id_number("999840", date(1985, 7, 15), 37), "外国人永久居留身份证受理地代码 99 不存在")
    fails(make_id_number("971840", date(1985, 7, 15), 37), "外国人永久居留身份证受理地代码 71 不存在")
    fails("931840" + "19850230" + "037" + check_character("93184019850230037"),
          "出生日期 1985-02-30 不存在")
    assert validate_id_number(make_id_number("931840", date(1985, 7, 15), 36), TODAY).gender == "女"


# ---------------------------------------------------------------- each failure


def test_region_code():
    fails(make_id_number("770101", date(1990, 1, 1), 1), "地区代码 77 不存在")
    fails(make_id_number("990101", date(1990, 1, 1), 1), "外国人永久居留身份证受理地代码 90 不存在")
    fails(make_id_number("000101", date(1990, 1, 1), 1), "地区代码 00 不存在")
    fails(make_id_number("160101", date(1990, 1, 1), 1), "地区代码 16 不存在")
    result = fails(make_id_number("710101", date(1990, 1, 1), 1), "地区代码 71 不存在")
    assert "830000" in result.hint
    assert validate_id_number(make_id_number("150101", date(1990, 1, 1), 1), TODAY).ok


def test_check_character_wrong():
    result = fails("110105194912310021", "校验位错误")
    assert result.hint
    fails("440524188001010015".replace("1880", "1980"), "校验位错误")
    assert validate_id_number(make_id_number("440524", date(1980, 1, 1), 1), TODAY).ok


def test_nonexistent_dates():
    fails(make_id_number("110105", date(1990, 1, 1), 1)[:6] + "19900230" + "0011",
          "出生日期 1990-02-30 不存在")
    body = "11010519901301001"
    fails(body + check_character(body), "出生日期 1990-13-01 不存在")
    body = "11010519900000001"
    fails(body + check_character(body), "出生日期 1990-00-00 不存在")


@pytest.mark.parametrize("year, leap", [(2000, True), (2004, True), (1996, True),
                                        (1900, False), (2001, False), (2023, False)])
def test_feb_29(year, leap):
    body = f"110105{year}0229001"
    result = validate_id_number(body + check_character(body), TODAY)
    if leap:
        assert result.ok and result.birth_date == date(year, 2, 29)
    else:
        assert not result.ok and result.reason == f"出生日期 {year}-02-29 不存在"


def test_future_birth_date():
    assert validate_id_number(make_id_number("110105", TODAY, 1), TODAY).ok
    fails(make_id_number("110105", TODAY + timedelta(days=1), 1), "出生日期晚于今天")
    fails(make_id_number("110105", date(2090, 1, 1), 1), "出生日期晚于今天")
    # the same number is fine once that day has come
    assert validate_id_number(make_id_number("110105", date(2030, 1, 1), 1), date(2030, 1, 1)).ok


def test_1900_boundary():
    assert validate_id_number(make_id_number("110105", date(1900, 1, 1), 1), TODAY).ok
    fails(make_id_number("110105", date(1899, 12, 31), 1), "出生日期早于 1900-01-01")


def test_lengths():
    fails("1101051949123100", "应为 18 位，实际为 16 位")
    fails("11010519491231002X1", "应为 18 位，实际为 19 位")
    fails("X", "应为 18 位，实际为 1 位")
    fails("", "为空")
    fails("   ", "为空")


def test_fifteen_digit_legacy_number():
    result = fails("110105491231002", "为 15 位旧号码")
    assert result.hint == "请填写 18 位的新身份证号码（15 位旧号码已停用）"
    # 15 characters ending in X are not a legacy number (those had no check character)
    fails("11010549123100X", "应为 18 位，实际为 15 位")


def test_illegal_characters():
    fails("11010519491231002Y", "含有非法字符")
    fails("1101051949123100-X", "含有非法字符")
    fails("110105 19491231 002X", "含有非法字符")
    assert validate_id_number("110105 19491231 002X", TODAY).hint == "号码中间不能有空格"
    full_width = fails("１１０１０５１９４９１２３１００２Ｘ", "含有非法字符")
    assert full_width.hint == "请使用半角数字"
    misplaced_x = fails("1101051949123100X2", "含有非法字符")
    assert "最后一位" in misplaced_x.hint
    fails("11010519491231002X".replace("1", "l", 1), "含有非法字符")


def test_not_a_string():
    for value in (None, 11010519491231002, ["11010519491231002X"]):
        assert validate_id_number(value, TODAY) == IdCheck(ok=False, reason="不是文本",  # type: ignore[arg-type]
                                                           fault="not_text")


@pytest.mark.parametrize("value, fault", [
    (None, "not_text"),
    ("  ", "empty"),
    ("11010519491231002Y", "characters"),
    ("１１０１０５１９４９１２３１００２Ｘ", "characters"),
    ("1101051949123100X2", "characters"),
    ("110105491231002", "legacy_15"),
    ("1101051949123100", "length"),
    (make_id_number("770101", date(1990, 1, 1), 1), "region"),
    (make_id_number("810100", date(1985, 7, 15), 37), "region"),
    (make_id_number("999840", date(1985, 7, 15), 37), "region"),
    ("11010519901301001" + check_character("11010519901301001"), "birth_date_invalid"),
    (make_id_number("110105", date(2090, 1, 1), 1), "birth_date_future"),
    ("440524188001010014", "birth_date_before_1900"),
    ("110105194912310021", "check_character"),
    ("11010519491231002x", None),
])
def test_each_failure_names_its_fault(value, fault):
    """The fault is the failure as data (FORM_ID_NUMBER's ``fault`` parameter); the reason
    is its Chinese wording, pinned by the tests above."""
    result = validate_id_number(value, TODAY)
    assert (result.ok, result.fault) == (fault is None, fault)


def test_messages_never_contain_the_number():
    bad = ["110105194912310021", "11010519900230002X", "990105199001010011",
           "11010519491231002Y", "110105491231002", "1101051949123100",
           make_id_number("110105", date(2090, 1, 1), 1)]
    for value in bad:
        result = validate_id_number(value, TODAY)
        text = f"{result.reason} {result.hint}"
        assert not result.ok
        assert value not in text and value[-4:] not in text.replace("1990-", "").replace("2090-", ""), (value, text)


# ---------------------------------------------------------------- gender


def test_gender_parity():
    assert validate_id_number("11010519491231002X", TODAY).gender == "女"   # 17th digit 2
    for seq, gender in ((1, "男"), (3, "男"), (19, "男"), (999, "男"),
                        (0, "女"), (2, "女"), (10, "女"), (998, "女")):
        number = make_id_number("110105", date(1990, 1, 1), seq)
        assert validate_id_number(number, TODAY).gender == gender
        assert gender_matches(number, gender)
        assert not gender_matches(number, "女" if gender == "男" else "男")


def test_gender_matches_edge_cases():
    assert gender_matches("11010519491231002x ", "女")
    assert gender_matches("11010519491231002X", " 女 ")
    assert not gender_matches("11010519491231002X", "F")
    assert not gender_matches("11010519491231002X", "")
    assert not gender_matches("110105491231002", "女")     # 15-digit: no 17th digit
    assert not gender_matches(None, "女")                   # type: ignore[arg-type]


# ---------------------------------------------------------------- properties

provinces = st.sampled_from(sorted(MAINLAND_PROVINCE_CODES))
regions = st.one_of(
    st.builds(lambda p, rest: p + rest, provinces,
              st.text(alphabet="0123456789", min_size=4, max_size=4)),
    st.sampled_from(["810000", "820000", "830000"]),
    st.builds(lambda p, nat: "9" + p + nat, provinces,
              st.text(alphabet="0123456789", min_size=3, max_size=3)),
)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)


@PROPERTY
@given(regions, births, sequences)
def test_every_well_formed_number_passes(region, birth, seq):
    number = make_id_number(region, birth, seq)
    result = validate_id_number(number, TODAY)
    assert result.ok, (number, result)
    assert result.birth_date == birth
    assert result.gender == ("男" if seq % 2 else "女")
    expected_kind = ("foreigner_permanent" if region[0] == "9" else
                     "hk_mo_tw_permit" if region[:2] in ("81", "82", "83") else "resident")
    assert result.kind == expected_kind
    if number.endswith("X"):
        assert validate_id_number(number[:-1] + "x", TODAY).ok


@PROPERTY
@given(regions, births, sequences, st.integers(min_value=0, max_value=17),
       st.sampled_from("0123456789X"))
def test_every_single_character_change_fails(region, birth, seq, position, char):
    number = make_id_number(region, birth, seq)
    if number[position] == char:
        char = "X" if char != "X" else "0"
    changed = number[:position] + char + number[position + 1:]
    assert changed != number
    result = validate_id_number(changed, TODAY)
    assert not result.ok, (number, changed)


@PROPERTY
@given(regions, births, sequences, st.integers(min_value=0, max_value=16))
def test_every_adjacent_transposition_fails(region, birth, seq, position):
    number = make_id_number(region, birth, seq)
    a, b = number[position], number[position + 1]
    if a == b:
        return
    swapped = number[:position] + b + a + number[position + 2:]
    assert not validate_id_number(swapped, TODAY).ok, (number, swapped)


# ---------------------------------------------------------------- phones


@pytest.mark.parametrize("value, normalized", [
    ("13812345678", "13812345678"),
    ("19912345678", "19912345678"),
    ("+86 138 1234 5678", "13812345678"),
    ("+8613812345678", "13812345678"),
    ("+86-138-1234-5678", "13812345678"),
    ("0086 13812345678", "13812345678"),
    ("8613812345678", "13812345678"),
    ("138-1234-5678", "13812345678"),
    (" 138 1234 5678 ", "13812345678"),
    ("138－1234－5678", "13812345678"),
])
def test_good_mobiles(value, normalized):
    assert validate_phone(value) == PhoneCheck(ok=True, normalized=normalized, kind="mobile")


@pytest.mark.parametrize("value, normalized", [
    ("010-12345678", "010-12345678"),
    ("01062345678", "010-62345678"),
    ("(010) 6234 5678", "010-62345678"),
    ("（021）62345678", "021-62345678"),
    ("0571-88886666", "0571-88886666"),
    ("0571-8888666", "0571-8888666"),
    ("0571 8888 6666", "0571-88886666"),
    ("+86 10 62345678", "010-62345678"),
    ("+86-571-88886666", "0571-88886666"),
    ("0086 571 8888 6666", "0571-88886666"),
    ("0571-88886666-123", "0571-88886666-123"),
    ("0571-8888666-6", "0571-8888666-6"),
    ("01062345678-123456", "010-62345678-123456"),
    ("0571-88886666转123", "0571-88886666-123"),
    ("0571-88886666 分机 8", "0571-88886666-8"),
    ("0571-88886666 ext 12", "0571-88886666-12"),
    ("0571-88886666 EXT.12", "0571-88886666-12"),
    ("0571-88886666#12", "0571-88886666-12"),
    ("010-6234-5678", "010-62345678"),
])
def test_good_landlines(value, normalized):
    assert validate_phone(value) == PhoneCheck(ok=True, normalized=normalized, kind="landline")


@pytest.mark.parametrize("value, reason", [
    ("1381234567", "手机号应为 11 位，实际为 10 位"),
    ("138123456789", "手机号应为 11 位，实际为 12 位"),
    ("12812345678", "手机号第二位应为 3-9"),
    ("10812345678", "手机号第二位应为 3-9"),
    ("1381234567a", "含有非法字符"),
    ("abc", "含有非法字符"),
    ("tel 13812345678", "含有非法字符"),
    ("１３８１２３４５６７８", "含有非法字符（请使用半角数字）"),
    ("", "电话为空"),
    ("  ", "电话为空"),
    ("- -", "电话为空"),
    ("13812345678转12", "手机号不能带分机号"),
    ("+1 202 555 0100", "仅接受中国大陆号码（+86）"),
    ("62345678", "不是手机号，固定电话须带区号（如 010-12345678）"),
    ("0101234567", "区号 010 后的本地号码应为 8 位，实际为 7 位"),
    ("0571-888866", "区号 0571 后的本地号码应为 7 或 8 位，实际为 6 位"),
    ("0571-888866661", "区号 0571 后的本地号码应为 7 或 8 位，实际为 9 位"),
    ("0571-08886666", "本地号码不能以 0 开头"),
    ("0012345678", "区号 0012 不存在"),
    ("0112345678", "区号 0112 不存在"),
    ("0571-88886666转1234567", "分机号应为 1-6 位数字"),
    ("0571-88886666转", "分机号应为 1-6 位数字"),
    ("0571-88886666转12#3", "分机号标记重复"),
    ("0571-88886666-1234567", "区号 0571 后的本地号码应为 7 或 8 位，实际为 15 位"),
])
def test_bad_phones(value, reason):
    result = validate_phone(value)
    assert result == PhoneCheck(ok=False, normalized=None, kind=None, reason=reason), result


def test_phone_not_a_string():
    assert validate_phone(13812345678).reason == "不是文本"  # type: ignore[arg-type]


@PROPERTY
@given(st.sampled_from("3456789"), st.text(alphabet="0123456789", min_size=9, max_size=9),
       st.sampled_from(["", "+86", "+86 ", "0086", "86"]), st.sampled_from(["", " ", "-"]))
def test_any_mobile_in_any_tolerated_spelling(second, rest, prefix, sep):
    number = "1" + second + rest
    spelled = prefix + number[:3] + sep + number[3:7] + sep + number[7:]
    assert validate_phone(spelled) == PhoneCheck(ok=True, normalized=number, kind="mobile")
