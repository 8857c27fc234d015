"""Personal numbers (PIPL): what counts as one, and how it is masked.

Logs, mails, pages, the decision documents and the index never hold a 身份证号 or a
mobile number in full: an ID number shows as its first 6 and last 4 characters
(``610116********3382``), a mobile number as its first 3 and last 4 digits
(``138****5678``). Everything else is left as written: a WeChat file name
(``微信图片_20231105143022.jpg``), a size, a count, a timestamp or a digest must stay
readable, or the clerk cannot find the file the message is about.

**What is a personal number in free text** (:func:`redact`, :func:`personal_numbers`):

* an 18-character number that passes :func:`pipeline.check.identity.validate_id_number`
  (the GB 11643 check character, a province code that exists or an HK/MO/TW residence
  permit 810000/820000/830000 or a 2023 foreigner's permanent residence card 9…, a real
  birth date from 1900-01-01 to today); the last character may be ``X``/``x``; written
  whole or grouped 6-8-4 with one space or dash (``610116 19801111 3382``);
* a 15-digit legacy ID number: a mainland province code and a real ``YYMMDD`` birth
  date (19YY) in the place GB 11643-1989 puts them (the legacy number has no check
  character, so this is all that can be checked);
* a mainland mobile number: ``1[3-9]`` + 9 digits, grouped 3-4-4 by spaces or dashes or
  not at all, with an optional ``+86``, ``0086`` or ``86`` in front.

Landlines (``010-12345678``) are not masked: they are the institutions' office numbers.

**Run boundaries.** A number is a maximal run of digits: it may be glued to letters,
Chinese, punctuation or the ends of the text (``张三610116198011113382.zip``,
``id13812345678``). A digit run longer than a mobile or legacy number
(``mmexport1699165822123``: 13 digits, ``VID20231105143022``: 14) is *one* longer number
(a timestamp, a size, an order number), never a mobile or a legacy number with extra
digits: those patterns are too weak (a millisecond timestamp holds mobile-shaped
windows). The one exception is the 18-character ID number, whose check character,
region and birth date make a chance find rare (about 1 in 80,000 per position of random
digits; a timestamp such as 2023…, 169… starts with no province code): any 18
characters of a longer run that pass every check are masked, because an ID glued to a
date or a sequence number (``张三11010119500101000920261120``, which the checker itself
composes when it suggests "institution + date" for a plan whose institution is an ID)
is still a person's. Digits are ASCII or full-width (``０-９``, what Chinese input
methods type).

**Digests and identifiers are not searched**: a run of 32 or more hex characters
(``[0-9a-fA-F]``, at least one a letter: an MD5, SHA-1 or SHA-256), and a run of 16 or
more that stands alone (no letter, digit, ``_`` or Chinese glued to it) and whose digits
letters split into two or more runs (a version id such as ``dd18405309674dd2974b``). A
run of digits alone is a number, however long. Their digit runs are no
numbers of anybody's, and masking them would break the trail an operator follows. A
personal number glued to letters stays found: ``No.610116198011113382abc`` has one run of
digits, ``张三…`` and ``id…`` are glued to a word.

**Fields that are personal numbers by their meaning** (:data:`ID_FIELDS`,
:data:`PHONE_FIELDS`: ``id_number``, ``phone``, ``contact_phone`` of the forms) are
masked whatever their value looks like (:func:`mask_field`): an invalid 身份证号 is still
a person's mistyped number.

**Identifiers the pipeline mints or computes** (receipt ids, versions, digests; see
:func:`is_identifier_key`) are never masked by :func:`redact_record`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from datetime import date
from typing import Any, Iterator

from pipeline.check.identity import MAINLAND_PROVINCE_CODES, validate_id_number

__all__ = ["ID_FIELDS", "PHONE_FIELDS", "PERSONAL_FIELDS", "mask_id", "mask_phone", "mask_field",
           "personal_numbers", "redact", "redact_value", "redact_record", "is_identifier_key",
           "numbers_in", "mask_known", "redact_whole"]

#: form fields whose values are 身份证号 / phone numbers by their meaning
ID_FIELDS = frozenset({"id_number"})
PHONE_FIELDS = frozenset({"phone", "contact_phone"})
PERSONAL_FIELDS = ID_FIELDS | PHONE_FIELDS

_D = "[0-9\uff10-\uff19]"  # a digit: ASCII or full-width
_X = "[Xx\uff38\uff58]"
_TO_ASCII = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")

#: a maximal run of digits, with the X an ID number may end with
_RUN = re.compile(rf"{_D}+{_X}?")
#: an ID number grouped 6-8-4 with one space or dash, used the same way in both places
_ID_GROUPED = re.compile(rf"(?<!{_D})({_D}{{6}})([ -])({_D}{{8}})\2({_D}{{3}}(?:{_D}|{_X}))(?!{_D})")
_MOBILE = re.compile(
    rf"(?<!{_D})((?:(?:[+\uff0b]|[0０]{{2}})?[8８][6６][ -]?)?)"  # +86 / 0086 / 86, optionally spaced
    rf"([1１][3-9３-９]{_D})([ -]?)({_D}{{4}})([ -]?)({_D}{{4}})(?!{_D})")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{16,}")
_DIGIT_RUN = re.compile(r"[0-9]+")
_ANY_DIGIT = re.compile(_D)


# --------------------------------------------------------------------------- masking one value


def mask_id(number: str) -> str:
    """``110101199003071234`` -> ``110101********1234``; 10 characters or fewer are
    masked whole (nothing would be hidden otherwise)."""
    s = str(number)
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


def keyed_hash(key: bytes, number: str) -> str:
    """The catalogue's stand-in for a personal number (spec section 10): HMAC-SHA256 with the
    deployment's secret ``key``, hex. The same person hashes alike in every package (the
    number is stripped, a final ``x`` upper-cased) while nobody without the key can test a
    guessed number against it, as one could with a plain hash of a 18-digit number."""
    normal = str(number).strip().upper()
    return hmac.new(key, normal.encode("utf-8"), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``; other lengths keep 3 + 4 when long enough."""
    digits = str(phone)
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_field(key: str, value: Any) -> Any:
    """``value`` masked by the meaning of ``key``: the value of an ID field with
    :func:`mask_id`, of a phone field with :func:`mask_phone` (text and numbers alike,
    trimmed; numbers become text); anything else unchanged."""
    if key not in PERSONAL_FIELDS or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return value
    text = str(value).strip()
    return mask_id(text) if key in ID_FIELDS else mask_phone(text)


# --------------------------------------------------------------------------- free text


def _ascii(text: str) -> str:
    return text.translate(_TO_ASCII)


def _is_id18(body: str, today: date) -> bool:
    return validate_id_number(_ascii(body), today).ok


def _is_id15(digits: str) -> bool:
    """A legacy number: mainland province code, then after the 6-digit address code a
    real birth date YYMMDD of the 1900s (GB 11643-1989)."""
    s = _ascii(digits)
    if s[:2] not in MAINLAND_PROVINCE_CODES:
        return False
    try:
        date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12]))
    except ValueError:
        return False
    return True


#: one personal number found in a text: (start, end) of the number, and (start, end) of
#: the characters its mask hides (an ID's birth date and sequence, a mobile's middle 4)
_Find = tuple[int, int, int, int]


def _ids_in_run(run: re.Match[str], today: date) -> Iterator[_Find]:
    """The ID numbers in one digit run: the run itself, or any 18 characters of a longer
    run that pass every check (an ID glued to a date is still a person's); a 15-digit
    run that is a legacy number."""
    digits, at = run[0], run.start()
    bare = digits.rstrip("Xx\uff38\uff58")  # an X after 15 digits is a letter
    if len(bare) == 15:
        if _is_id15(bare):
            yield at, at + 15, at + 6, at + 11
        return
    for i in range(len(digits) - 17):  # every window: two may overlap, both are hidden
        if _is_id18(digits[i:i + 18], today):
            yield at + i, at + i + 18, at + i + 6, at + i + 14


def _finds(text: str, today: date) -> list[_Find]:
    """Every personal number in ``text`` (which holds no digest), left to right."""
    found = [(m.start(), m.end(), *m.span(3))
             for m in _ID_GROUPED.finditer(text) if _is_id18(m[1] + m[3] + m[4], today)]
    for run in _RUN.finditer(text):
        if len(run[0]) >= 15:
            found += _ids_in_run(run, today)
    # the pattern is the whole rule for a mobile number: nothing more to check
    found += [(m.start(), m.end(), *m.span(4)) for m in _MOBILE.finditer(text)]
    return sorted(found)


def _mask_once(text: str, today: date) -> str:
    chars = list(text)
    for _start, _end, hide_from, hide_to in _finds(text, today):
        for i in range(hide_from, hide_to):
            chars[i] = "*"
    return "".join(chars)


def _mask_plain(text: str, today: date) -> str:
    """Mask the personal numbers of ``text``, which holds no digest: the hidden part of
    each becomes ``*`` (digits only: a grouped number keeps its spaces or dashes).

    The masked text is read again until nothing more is found: masking an ID inside a
    longer digit run cuts the run, and what then stands alone as a number is masked too,
    so that masking twice (a message, then the document holding it) changes nothing."""
    if not _ANY_DIGIT.search(text):
        return text  # the common case: nothing to look at
    while True:
        masked = _mask_once(text, today)
        if masked == text:
            return masked
        text = masked


def _glued(text: str, at: int) -> bool:
    """Whether the character at ``at`` (if any) is part of a word: a letter, a digit,
    ``_`` or a Chinese character."""
    return 0 <= at < len(text) and (text[at].isalnum() or text[at] == "_")


def _is_digest(text: str, run: re.Match[str]) -> bool:
    """Whether a hex run of 16+ characters is a digest or an identifier (see the module)."""
    if run[0].isdigit():
        return False  # a number, not a digest
    if len(run[0]) >= 32:
        return True
    alone = not _glued(text, run.start() - 1) and not _glued(text, run.end())
    return alone and len(_DIGIT_RUN.findall(run[0])) >= 2


def _plain_parts(text: str) -> Iterator[tuple[str, bool]]:
    """(part, searched?) of ``text``: digests and identifiers are not searched."""
    pos = 0
    for m in _HEX_RUN.finditer(text):
        if _is_digest(text, m):
            yield text[pos:m.start()], True
            yield m[0], False
            pos = m.end()
    yield text[pos:], True


def redact(text: str, today: date | None = None) -> str:
    """``text`` with every personal number in it masked (see the module's docstring for
    what is one) and nothing else changed."""
    if not _ANY_DIGIT.search(text):
        return text
    day = today or date.today()
    return "".join(_mask_plain(part, day) if searched else part for part, searched in _plain_parts(text))


def personal_numbers(text: str, today: date | None = None) -> list[str]:
    """The personal numbers in ``text``, as written there: what :func:`redact` masks on
    its first reading of the text."""
    found: list[str] = []
    day = today or date.today()
    for part, searched in _plain_parts(text):
        if not searched:
            continue
        found += [part[start:end] for start, end, _, _ in _finds(part, day)]
    return found


def numbers_in(value: Any) -> list[str]:
    """The personal numbers in every string inside ``value`` (dicts, lists, tuples), each
    found at its own boundaries, longest first."""
    if isinstance(value, str):
        return personal_numbers(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    found = {number for item in items for number in numbers_in(item)}
    return sorted(found, key=lambda n: (-len(n), n))


def mask_known(value: Any, numbers: list[str]) -> Any:
    """``value`` with every occurrence of the given personal ``numbers`` masked in its
    strings, wherever they stand, glued to other digits too: a check that composes a text
    from its parts ("institution + date") hides a number in a longer digit run, where the
    recogniser rightly sees none, but the part it came from shows it."""
    if not numbers:
        return value
    if isinstance(value, str):
        for number in numbers:
            value = value.replace(number, redact(number))
        return value
    if isinstance(value, dict):
        return {k: mask_known(v, numbers) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_known(v, numbers) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_known(v, numbers) for v in value)
    return value


# --------------------------------------------------------------------------- structures

#: keys whose values the pipeline minted or computed: never personal, never masked
_IDENTIFIER_KEYS = frozenset({"receipt_id", "new_receipt_id", "duplicate_of", "supersedes", "superseded_by",
                              "version", "message_id", "holder", "timestamp", "schema_version", "stamp"})


def is_identifier_key(key: str) -> bool:
    """Whether a value under ``key`` is an identifier or digest of ours (a receipt id, a
    version, a SHA-256, ...): masking one would break the trail an operator follows."""
    return key in _IDENTIFIER_KEYS or key.endswith("sha256")


def redact_value(value: Any) -> Any:
    """Every string inside ``value`` (dicts, lists, tuples) through :func:`redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and value == int(value):
        # a number written in a form where a count or hours belong may be a phone number
        # all the same (13800138000 as a JSON number): it leaves masked, as text
        digits = str(int(value))
        masked = redact(digits)
        return value if masked == digits else masked
    return value


def redact_record(value: Any, key: str = "", known: list[str] | None = None) -> Any:
    """Like :func:`redact_value`, but aware of what the keys mean: identifiers and
    digests (:func:`is_identifier_key`) are left alone, personal fields
    (:data:`PERSONAL_FIELDS`) are masked whatever they hold. For log lines, documents
    and the operator's output. ``known``: personal numbers to mask wherever they occur
    (:func:`mask_known`), besides those the recogniser finds."""
    if is_identifier_key(key):
        return value
    if key in PERSONAL_FIELDS:
        return mask_field(key, value)
    if isinstance(value, str):
        return mask_known(redact(value), known or [])
    if isinstance(value, dict):
        return {k: redact_record(v, str(k), known) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_record(v, key, known) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_record(v, key, known) for v in value)
    return value


def redact_whole(value: Any) -> Any:
    """:func:`redact_record` of a whole that belongs together (a decision document, one
    operator's answer): a personal number found anywhere in it, at its own boundaries
    (a training's occupation), is masked wherever else it occurs, glued to other digits
    too (the folder name a check composed of occupation + level)."""
    return redact_record(value, known=numbers_in(value))
