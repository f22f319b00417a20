"""Whole numbers from what a client sends: one reader for every door.

A number can arrive as a JSON number, as its digits in a JSON string, or as a
form field (digits only). Python reads at most 4,300 digits (int() raises
beyond that) and str.isdigit() also accepts "²" or "①", which int() refuses:
both reached int() and answered 500. Here anything that a database id or
count (a 64-bit integer) cannot hold is refused before it is read.
"""

from __future__ import annotations

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
_MAX_DIGITS = len(str(BIGINT_MAX))


def whole_number(value: object, *, minimum: int = BIGINT_MIN, maximum: int = BIGINT_MAX) -> int | None:
    """`value` as an int within [minimum, maximum], or None.

    An int (never True or False) or a string of ASCII digits, spaces around them allowed.
    A string of more digits than the field can hold is refused without being read."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        digits = value.strip()
        if not (digits.isascii() and digits.isdigit()) or len(digits.lstrip("0")) > _MAX_DIGITS:
            return None
        value = int(digits)
    if not isinstance(value, int) or not minimum <= value <= maximum:
        return None
    return value
