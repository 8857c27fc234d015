"""身份证号 and phone-number validation (spec section 4: ``FORM_ID_NUMBER``, ``FORM_PHONE``).

Pure functions, no I/O, no logging. Failure reasons never contain the number itself (at
most a region code or a birth date), so they can go into messages as they are; callers
mask the number with :func:`pipeline.check.privacy.mask_id` when they need to name it.

Sources (from knowledge of the standards; no network was used):

* GB 11643-1999 《公民身份号码》: 18 characters = 6-digit address code (GB/T 2260
  county-level code of the place of household registration) + 8-digit birth date
  YYYYMMDD + 3-digit sequence code (odd for men, even for women) + 1 check character.
* Check character: ISO 7064:1983 MOD 11-2. Weight of position i (1-based, from the left,
  i = 1..17) is 2^(18-i) mod 11 = 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; the check
  character is chosen so that sum(a_i * W_i) + check ≡ 1 (mod 11), which gives the map
  sum % 11 -> "10X98765432" (X stands for 10).
* GB/T 2260 province-level codes: 11-15, 21-23, 31-37, 41-46, 50-54, 61-65 (31 mainland
  province-level divisions), 71 台湾省, 81 香港特别行政区, 82 澳门特别行政区.
* 《港澳台居民居住证申领发放办法》 (国办发〔2018〕81号): the residence-permit number follows
  GB 11643 with the address code 810000 (Hong Kong), 820000 (Macau) or 830000 (Taiwan).
* 外国人永久居留身份证 (2023 version, 国家移民管理局 announcement, issued from
  2023-12-01): 18 characters = "9" + 2-digit province code of the accepting office +
  3-digit nationality code (GB/T 2659 numeric, = ISO 3166-1 numeric) + 8-digit birth
  date YYYYMMDD + 3-digit sequence code + 1 ISO 7064 MOD 11-2 check character. The
  birth date thus sits in positions 7-14, as for a resident number. Uncertainty: we are
  confident of the leading 9, the length, the check character and the birth-date
  position; the sequence parity is taken to encode gender like a resident number, and
  the nationality digits are only required to be digits (not checked against a list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Mapping

__all__ = [
    "MAINLAND_PROVINCE_CODES",
    "PROVINCE_CODES",
    "IdCheck",
    "PhoneCheck",
    "check_character",
    "gender_matches",
    "make_id_number",
    "validate_id_number",
    "validate_phone",
]

# --------------------------------------------------------------------------- ID numbers

#: The 31 mainland province-level codes of GB/T 2260.
MAINLAND_PROVINCE_CODES: Mapping[str, str] = MappingProxyType({
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
    "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
})

#: Codes accepted as the first two digits of an 18-digit number that does not start with
#: 9: the 31 mainland codes, plus 81/82/83 for the residence permits of Hong Kong, Macau
#: and Taiwan residents (only as 810000/820000/830000). 71 (台湾省 in GB/T 2260) is NOT
#: accepted: no 身份证号 is issued with it; Taiwan residents on the mainland hold a
#: residence permit numbered 830000…, so a 71… number is refused with that hint.
PROVINCE_CODES: Mapping[str, str] = MappingProxyType({
    **MAINLAND_PROVINCE_CODES,
    "81": "香港特别行政区（港澳台居民居住证）",
    "82": "澳门特别行政区（港澳台居民居住证）",
    "83": "台湾地区（港澳台居民居住证）",
})

_PERMIT_CODES = frozenset({"81", "82", "83"})
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_MAP = "10X98765432"
_DIGITS = frozenset("0123456789")
_MIN_BIRTH = date(1900, 1, 1)

KIND_RESIDENT = "resident"
KIND_PERMIT = "hk_mo_tw_permit"
KIND_FOREIGNER = "foreigner_permanent"

HINT_LEGACY_15 = "请填写 18 位的新身份证号码（15 位旧号码已停用）"


def check_character(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ("0"-"9" or "X") of the first 17 digits."""
    if len(body17) != 17 or not all(c in _DIGITS for c in body17):
        raise ValueError("check_character needs exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(body17, _WEIGHTS))
    return _CHECK_MAP[total % 11]


@dataclass(frozen=True)
class IdCheck:
    ok: bool
    reason: str | None = None
    hint: str | None = None
    kind: str | None = None
    birth_date: date | None = None
    gender: str | None = None
    #: which check failed, for code that reads no Chinese: "not_text", "empty",
    #: "characters", "legacy_15", "length", "region", "birth_date_invalid",
    #: "birth_date_future", "birth_date_before_1900", "check_character"; None when ok
    fault: str | None = None


def _fail(fault: str, reason: str, hint: str | None = None) -> IdCheck:
    return IdCheck(ok=False, reason=reason, hint=hint, fault=fault)


def _parse_birth(digits8: str) -> date | None:
    try:
        return date(int(digits8[:4]), int(digits8[4:6]), int(digits8[6:8]))
    except ValueError:
        return None


def _shape_failure(s: str) -> IdCheck | None:
    """Characters, the 15-digit legacy number, the length, the place of an X."""
    bad = [c for c in s if c not in _DIGITS and c != "X"]
    if bad:
        if any(c.isdigit() or c in "Ｘｘ" for c in bad):  # full-width / other-script digits
            return _fail("characters", "含有非法字符", "请使用半角数字")
        if any(c.isspace() for c in bad):
            return _fail("characters", "含有非法字符", "号码中间不能有空格")
        return _fail("characters", "含有非法字符")
    if len(s) == 15 and "X" not in s:
        return _fail("legacy_15", "为 15 位旧号码", HINT_LEGACY_15)
    if len(s) != 18:
        return _fail("length", f"应为 18 位，实际为 {len(s)} 位")
    if "X" in s[:17]:
        return _fail("characters", "含有非法字符", "X 只能出现在最后一位")
    return None


def _region_failure(s: str) -> IdCheck | None:
    """The province (or foreigner card's accepting office) of an 18-character number."""
    if s[0] == "9":
        if s[1:3] not in MAINLAND_PROVINCE_CODES:
            return _fail("region", f"外国人永久居留身份证受理地代码 {s[1:3]} 不存在")
        return None
    province = s[:2]
    if province in _PERMIT_CODES:
        if s[2:6] != "0000":
            return _fail("region", f"地区代码 {s[:6]} 不存在",
                         "港澳台居民居住证号码以 810000、820000 或 830000 开头")
        return None
    if province in MAINLAND_PROVINCE_CODES:
        return None
    if province == "71":
        return _fail("region", "地区代码 71 不存在", "台湾居民请填写以 830000 开头的港澳台居民居住证号码")
    return _fail("region", f"地区代码 {province} 不存在")


def _kind(s: str) -> str:
    """The kind of a number whose region passed :func:`_region_failure`."""
    if s[0] == "9":
        return KIND_FOREIGNER
    return KIND_PERMIT if s[:2] in _PERMIT_CODES else KIND_RESIDENT


def _birth_failure(s: str, today: date) -> IdCheck | None:
    """The birth date (positions 7-14): a real day, 1900-01-01 .. today."""
    raw = s[6:14]
    birth = _parse_birth(raw)
    if birth is None:
        return _fail("birth_date_invalid", f"出生日期 {raw[:4]}-{raw[4:6]}-{raw[6:]} 不存在")
    if birth > today:
        return _fail("birth_date_future", "出生日期晚于今天")
    if birth < _MIN_BIRTH:
        return _fail("birth_date_before_1900", "出生日期早于 1900-01-01")
    return None


def _check_failure(s: str) -> IdCheck | None:
    if check_character(s[:17]) != s[17]:
        return _fail("check_character", "校验位错误", "请核对号码，可能有数字填错")
    return None


def validate_id_number(value: str, today: date) -> IdCheck:
    """Check one 身份证号 (or HK/Macau/Taiwan residence permit, or 2023 foreigner card).

    Surrounding whitespace is stripped; a lowercase final ``x`` counts as ``X``. Checks
    run in this order and the first failure is reported: characters, 15-digit legacy
    number, length, position of X, region/kind, birth date, check character.
    """
    if not isinstance(value, str):
        return _fail("not_text", "不是文本")
    s = value.strip()
    if not s:
        return _fail("empty", "为空")
    if s[-1] == "x":
        s = s[:-1] + "X"
    # each step gives None when it passes; an IdCheck (always truthy) stops the chain
    failure = _shape_failure(s) or _region_failure(s) or _birth_failure(s, today) or _check_failure(s)
    if failure is not None:
        return failure
    gender = "男" if int(s[16]) % 2 == 1 else "女"
    return IdCheck(ok=True, kind=_kind(s), birth_date=_parse_birth(s[6:14]), gender=gender)


def gender_matches(value: str, gender: str) -> bool:
    """Whether the 17th character's parity (odd = 男, even = 女) agrees with ``gender``.

    False when the number has no digit in 17th place or ``gender`` is not 男/女; the
    number is not otherwise validated (use :func:`validate_id_number` for that).
    """
    if not isinstance(value, str) or not isinstance(gender, str):
        return False
    s = value.strip()
    g = gender.strip()
    if len(s) != 18 or s[16] not in _DIGITS or g not in ("男", "女"):
        return False
    return ("男" if int(s[16]) % 2 == 1 else "女") == g


def make_id_number(region: str, birth: date, seq3: int) -> str:
    """Build a number with a correct check character: ``region`` (6 digits, e.g.
    "110105", "810000", or "9" + province + nationality such as "931840") + birth
    YYYYMMDD + ``seq3`` as 3 digits (odd = 男, even = 女) + check character."""
    if len(region) != 6 or not all(c in _DIGITS for c in region):
        raise ValueError("region must be 6 ASCII digits")
    if not 0 <= seq3 <= 999:
        raise ValueError("seq3 must be 0..999")
    if not 1000 <= birth.year <= 9999:
        raise ValueError("birth year must have 4 digits")
    body = f"{region}{birth:%Y%m%d}{seq3:03d}"
    return body + check_character(body)


# --------------------------------------------------------------------------- phones


@dataclass(frozen=True)
class PhoneCheck:
    ok: bool
    normalized: str | None = None
    kind: str | None = None
    reason: str | None = None


_MOBILE = re.compile(r"1[3-9]\d{9}")
_SPACES = re.compile(r"\s+")
_DASHES = "-－–—‐"
_PARENS = "()（）"
# explicit extension markers: 转 / 分机 / ext / ext. / #
_EXT_MARKER = re.compile(r"\s*(?:转|分机|ext\.?|#)\s*", re.IGNORECASE)
_EXTENSION = re.compile(r"[0-9]{1,6}")


def _phone_fail(reason: str) -> PhoneCheck:
    return PhoneCheck(ok=False, reason=reason)


def _unify_separators(s: str) -> str:
    """Parentheses become spaces, every kind of dash an ASCII "-"; stripped."""
    for p in _PARENS:
        s = s.replace(p, " ")
    for d in _DASHES:
        s = s.replace(d, "-")
    return s.strip()


def _area_code(digits: str) -> str | None:
    """The area code at the start of ``digits`` (which starts with the trunk 0): 010 and
    02x are the 3-digit codes (Beijing; Guangzhou, Shanghai, Tianjin, Chongqing,
    Shenyang, Nanjing, Wuhan, Chengdu, Xi'an); every other code is 4 digits, 03xx-09xx.
    00 is the international prefix and 01x other than 010 is unassigned."""
    if digits.startswith("010") or digits.startswith("02"):
        return digits[:3] if len(digits) >= 3 else None
    if len(digits) >= 4 and digits[1] in "3456789":
        return digits[:4]
    return None


def _split_landline(digits: str) -> tuple[str, str] | None:
    """(area code, local number) if ``digits`` is a whole landline number, else None.

    The local number after a 3-digit area code has 8 digits (all those cities moved to 8
    digits long ago); after a 4-digit code 7 or 8. It may not start with 0 (a doubled
    trunk prefix); a leading 1 is tolerated (real subscriber numbers start with 2-9,
    but placeholders such as 010-12345678 are common and harmless)."""
    area = _area_code(digits)
    if area is None:
        return None
    local = digits[len(area):]
    lengths = (8,) if len(area) == 3 else (7, 8)
    if len(local) not in lengths or local.startswith("0"):
        return None
    return area, local


def _landline_reason(digits: str) -> str:
    area = _area_code(digits)
    if area is None:
        return f"区号 {digits[:4]} 不存在"
    local = digits[len(area):]
    if local.startswith("0"):
        return "本地号码不能以 0 开头"
    wanted = "8" if len(area) == 3 else "7 或 8"
    return f"区号 {area} 后的本地号码应为 {wanted} 位，实际为 {len(local)} 位"


def _national(s: str) -> tuple[str, bool] | None:
    """``s`` without a ``+86`` / ``0086`` prefix, and whether it had one; None for any
    other ``+`` country code."""
    if s.startswith("+"):
        return (s[3:], True) if s.startswith("+86") else None
    if s.startswith("0086"):
        return s[4:], True
    return s, False


def _character_reason(s: str) -> str | None:
    """Why ``s`` (separators unified) holds a character no phone number has, or None."""
    if all(c in _DIGITS or c == "-" or c.isspace() for c in s):
        return None
    if any(c.isdigit() and c not in _DIGITS for c in s):
        return "含有非法字符（请使用半角数字）"
    return "含有非法字符"


def _mobile(digits: str, ext: str | None) -> PhoneCheck:
    if ext is not None:
        return _phone_fail("手机号不能带分机号")
    if len(digits) != 11:
        return _phone_fail(f"手机号应为 11 位，实际为 {len(digits)} 位")
    if not _MOBILE.fullmatch(digits):
        return _phone_fail("手机号第二位应为 3-9")
    return PhoneCheck(ok=True, normalized=digits, kind="mobile")


def _landline_split(digits: str, groups: list[str],
                    ext: str | None) -> tuple[tuple[str, str] | None, str | None]:
    """(area code, local number) or None, and the extension: without an explicit marker,
    a last dash group of 1-6 digits is the extension when what precedes it is a whole
    number; with 3+ dash groups always so, with 2 only when the digits together are not
    a whole number ("01012345678-123")."""
    if ext is None and len(groups) >= 2 and _EXTENSION.fullmatch(groups[-1]):
        head = _split_landline("".join(groups[:-1]))
        if head is not None and (len(groups) >= 3 or _split_landline(digits) is None):
            return head, groups[-1]
    return _split_landline(digits), ext


def _landline(digits: str, groups: list[str], ext: str | None, international: bool) -> PhoneCheck:
    if international and not digits.startswith("0"):
        digits = "0" + digits  # +86 10 12345678: the trunk 0 left out
        groups = ["0" + groups[0], *groups[1:]]
    if not digits.startswith("0"):
        return _phone_fail("不是手机号，固定电话须带区号（如 010-12345678）")
    split, ext = _landline_split(digits, groups, ext)
    if split is None:
        return _phone_fail(_landline_reason(digits))
    area, local = split
    normalized = f"{area}-{local}" + (f"-{ext}" if ext else "")
    return PhoneCheck(ok=True, normalized=normalized, kind="landline")


def validate_phone(value: str) -> PhoneCheck:
    """A mainland mobile (``13812345678``) or a landline with area code
    (``010-12345678``, ``0571-88886666-123``).

    Tolerated: surrounding and inner whitespace, dashes (ASCII, full-width, en/em),
    parentheses (ASCII and full-width) around the area code, a ``+86`` or ``0086``
    prefix (for a landline the trunk 0 may then be left out: ``+86 10 12345678``), a
    bare ``86`` only directly before an 11-digit mobile number. An extension (1-6
    digits) follows 转, 分机, ext, ext. or #, or a dash after a complete landline.
    """
    if not isinstance(value, str):
        return _phone_fail("不是文本")
    s = value.strip()
    if not s:
        return _phone_fail("电话为空")

    parts = _EXT_MARKER.split(s)  # an explicit extension marker
    if len(parts) > 2:
        return _phone_fail("分机号标记重复")
    ext = parts[1].strip() if len(parts) == 2 else None
    if ext is not None and not _EXTENSION.fullmatch(ext):
        return _phone_fail("分机号应为 1-6 位数字")

    national = _national(_unify_separators(parts[0]))
    if national is None:
        return _phone_fail("仅接受中国大陆号码（+86）")
    s, international = national
    reason = _character_reason(s)
    if reason is not None:
        return _phone_fail(reason)
    groups = [g for g in (_SPACES.sub("", g) for g in s.split("-")) if g]
    digits = "".join(groups)
    if not digits:
        return _phone_fail("电话为空")

    if not international and len(digits) == 13 and digits.startswith("86") and \
            _MOBILE.fullmatch(digits[2:]):
        digits = digits[2:]  # a bare 86 before a mobile number
    if digits.startswith("1") and not (international and digits.startswith("10")):
        return _mobile(digits, ext)
    return _landline(digits, groups, ext, international)
