"""Masking of personal numbers (PIPL): 身份证号 and phone numbers never leave in full.

Messages and mails show an ID number as its first 6 and last 4 characters, a mobile
number as its first 3 and last 4. :func:`redact` is the last line of defence in the log
pipeline: any 15/18-character ID-like or mobile-like run in a log value is masked even
if a check forgot to.
"""

from __future__ import annotations

import re
from typing import Any

# Only digits bound a number: an ID glued to letters ("id110101...") is still masked.
_ID_LIKE = re.compile(r"(?<!\d)(\d{6})(\d{8}|\d{5})(\d{3}[0-9Xx]|\d{4})(?![0-9A-Za-z])")
_MOBILE_LIKE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")


def mask_id(number: str) -> str:
    """``110101199003071234`` -> ``110101********1234``; short strings are fully masked."""
    s = str(number)
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``; other lengths keep 3 + 4 when long enough."""
    digits = str(phone)
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


_LONG_RUN = re.compile(r"\d{11,}")


def redact(text: str) -> str:
    """Mask every ID-like and mobile-like number inside free text, and any other run of
    11 or more digits (an ID glued to a date, "11010119500101000920261120", hides in one)."""
    text = _ID_LIKE.sub(lambda m: mask_id(m.group(0)), text)
    text = _MOBILE_LIKE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LONG_RUN.sub(lambda m: mask_id(m.group(0)) if len(m.group(0)) >= 15 else mask_phone(m.group(0)), text)


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value
