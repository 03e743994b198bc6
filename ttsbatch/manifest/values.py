"""One field value: is it set, what is it called in a message, and its string or number.

Decisions: empty or whitespace-only values mean "unset" in every format (CSV cells and JSON
strings), so a JSONL line and its CSV twin mean the same thing. Messages name a JSON value's
type as well as its content (``the boolean true``, ``the string '1.5'``), since the type is
often the mistake. CSV cells are text to parse; JSON values are typed, so ``"speed": "1.5"``
is a problem while the CSV cell ``1.5`` is a number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

#: ``bad(field, message)``: how a check reports a problem for the record being checked
Bad = Callable[[str, str], None]


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    expected: str
    low_open: bool = False
    integer: bool = False

    def contains(self, x: float) -> bool:
        return (self.low < x if self.low_open else self.low <= x) and x <= self.high


def unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def quote(s: str, limit: int = 60) -> str:
    return repr(s if len(s) <= limit else s[: limit - 3] + "...")


def describe(value: Any) -> str:
    """How a JSON value is named in messages (its type matters as much as its content)."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {quote(value)}"
    if isinstance(value, (int, float)):
        return quote(repr(value), 40)[1:-1]
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def choice(value: str, options, what: str = "") -> str:
    """Never silently change what the user asked: list the valid values, hint at a case slip."""
    listed = ", ".join(options) + (f" ({what})" if what else "")
    hint = next((o for o in options if o.lower() == value.lower()), None)
    return f"expected one of {listed}, got {quote(value)}" + (f" (did you mean {hint!r}?)" if hint else "")


def string(value: Any, bad: Bad, name: str, *, integers: bool = True) -> str | None:
    """A stripped string field; JSON integers are accepted where a number is a natural label."""
    if unset(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if integers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    bad(name, f"expected a string, got {describe(value)}")
    return None


def number(value: Any, rng: Range, from_text: bool, bad: Bad, name: str) -> float | int | None:
    if unset(value):
        return None
    num: float | int | None = None
    if from_text:
        shown = value.strip()
        if _NUMBER_TEXT.fullmatch(shown):
            num = float(shown)
        else:
            shown = quote(shown)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        num, shown = value, describe(value)
    else:
        shown = describe(value)
    if num is None or (isinstance(num, float) and not math.isfinite(num)) or not rng.contains(num):
        bad(name, f"expected {rng.expected}, got {shown}")
        return None
    if rng.integer:
        if not float(num).is_integer():
            bad(name, f"expected {rng.expected}, got {shown} ({name} is an integer)")
            return None
        return int(num)
    return float(num)
