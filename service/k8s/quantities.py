"""Kubernetes resource quantities ("500m", "1.5", "2Gi", "1G", "128974848", "1e3"), exactly.

The grammar is k8s.io/apimachinery's resource.Quantity: a signed decimal number, then a binary suffix
(Ki..Ei), a decimal one (n, u, m, none, k, M..E) or a decimal exponent (e3, E-2). Values are kept as
fractions; like Kubernetes, conversions to integers round up (MilliValue, Value).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
MAX_CHARS = 64


def parse_quantity(value: str | int | float) -> Fraction:
    """The exact value; ValueError says what a quantity looks like. Numbers are accepted as JSON
    numbers too, as Quantity's UnmarshalJSON does."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a quantity: {value!r}")
        return Fraction(str(value))
    text = value.strip() if isinstance(value, str) else ""
    match = _QUANTITY.match(text) if len(text) <= MAX_CHARS else None
    if match is None:
        raise ValueError(
            f"not a Kubernetes quantity: {str(value)[:MAX_CHARS]!r} "
            "(expected e.g. 500m, 1.5, 2Gi, 1G, 128974848)"
        )
    number, suffix = Fraction(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    exponent = int(suffix[1:]) if suffix[:1] in ("e", "E") and len(suffix) > 1 else _DECIMAL[suffix]
    if abs(exponent) > 30:
        raise ValueError(f"quantity out of range: {text!r}")
    return number * Fraction(10) ** exponent


def milli(q: Fraction) -> int:
    """Like Quantity.MilliValue(): thousandths, rounded up."""
    return math.ceil(q * 1000)


def whole(q: Fraction) -> int:
    """Like Quantity.Value(): rounded up."""
    return math.ceil(q)


def format_milli(m: int) -> str:
    return f"{m}m" if m % 1000 else str(m // 1000)
