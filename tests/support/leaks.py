"""The leak detector of the tests: the personal numbers shown in full in a text.

A second, independent reading of the definition in pipeline/check/privacy.py (the
recogniser the code masks with), so that a test does not grade the code with the code:
the text is cut into maximal digit runs (ASCII or full-width) and each run is judged by
its length, with pipeline.check.identity's validator for 18-character ID numbers.

- 18 characters (17 digits + digit or X) that pass ``validate_id_number``; also written
  6-8-4 with one space or dash;
- 15 digits: a mainland province code and a real YYMMDD birth date of the 1900s;
- 11 digits 1[3-9]…, or 13 digits 861[3-9]… or 15 digits 00861[3-9]… (a mobile with the
  country code), or a mobile written 3-4-4 with spaces or dashes;
- a digit run glued to more digits is one longer run: never a mobile or a legacy number,
  but any 18 characters of it that pass ``validate_id_number`` are an ID number;
- digests and identifiers (an ASCII hex run with a letter, of 32+ characters, or of 16+
  standing alone with its digits in two or more runs) are skipped.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from pipeline.check.identity import MAINLAND_PROVINCE_CODES, validate_id_number

_FULLWIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
_RUN = re.compile(r"[0-9]+[Xx]?")
_SPACED_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}(?![0-9])")
_SPACED_ID = re.compile(r"(?<![0-9])([0-9]{6})([ -])([0-9]{8})\2([0-9]{3}[0-9Xx])(?![0-9])")
_HEX = re.compile(r"[0-9A-Fa-f]{16,}")


def _word(text: str, at: int) -> bool:
    return 0 <= at < len(text) and (text[at].isalnum() or text[at] == "_")


def _without_digests(text: str) -> str:
    def blank(m: re.Match[str]) -> str:
        alone = not _word(text, m.start() - 1) and not _word(text, m.end())
        digest = not m[0].isdigit() and (len(m[0]) >= 32 or (alone and len(re.findall(r"[0-9]+", m[0])) >= 2))
        return " " * len(m[0]) if digest else m[0]

    return _HEX.sub(blank, text)


def _legacy(run: str) -> bool:
    if run[:2] not in MAINLAND_PROVINCE_CODES:
        return False
    try:
        date(1900 + int(run[6:8]), int(run[8:10]), int(run[10:12]))
    except ValueError:
        return False
    return True


def _is_personal(run: str, today: date) -> bool:
    digits = run.rstrip("Xx")
    if len(run) == 18 and len(digits) >= 17:
        return validate_id_number(run, today).ok
    if run != digits:  # an X after anything but 17 digits is a letter
        return _is_personal(digits, today)
    if len(run) == 15:  # a legacy number, or 0086 and a mobile
        return _legacy(run) or (run.startswith("0086") and run[4] == "1" and run[5] in "3456789")
    if len(run) == 11:
        return run[0] == "1" and run[1] in "3456789"
    return len(run) == 13 and run.startswith("86") and run[2] == "1" and run[3] in "3456789"


def _ids_inside(run: str, today: date) -> list[str]:
    """18-character windows of a longer run that are valid ID numbers."""
    return [run[i:i + 18] for i in range(len(run) - 17) if validate_id_number(run[i:i + 18], today).ok]


def leaks(text: str, today: date | None = None) -> list[str]:
    """The personal numbers in ``text`` shown in full."""
    day = today or date.today()
    plain = _without_digests(text).translate(_FULLWIDTH)  # digests: ASCII hex only
    found = [m[0] for m in _RUN.finditer(plain) if _is_personal(m[0], day)]
    found += [n for m in _RUN.finditer(plain) if len(m[0]) > 18 for n in _ids_inside(m[0], day)]
    found += [m[0] for m in _SPACED_MOBILE.finditer(plain) if not m[0].isdigit()]
    found += [m[0] for m in _SPACED_ID.finditer(plain)
              if validate_id_number(m[1] + m[3] + m[4], day).ok]
    return found


def leaks_in(value: Any, today: date | None = None) -> list[str]:
    """The leaks in every text of a JSON-able value (a document, parameters, a log line)."""
    return leaks(json.dumps(value, ensure_ascii=False), today)
