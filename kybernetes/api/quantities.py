"""resource.Quantity: parsing, canonical form and arithmetic, exactly as apimachinery does it.

Quantities (``"100m"``, ``"1Gi"``, ``"1.5"``, ``"2e3"``) appear in container
resources, quotas, limit ranges, PVCs and node capacity. Kube-apiserver always
re-serializes them in canonical form (``"1000m"`` → ``"1"``, ``"0.5"`` →
``"500m"``, ``"1024Mi"`` → ``"1Gi"``), so kybernetes must produce the same
strings. Values are held exactly as an integer number of nano-units: upstream
rounds every parsed value up (away from zero) to nano precision, so nothing
finer ever exists.

Used by validation (comparisons, non-negative checks), defaulting (milli
rounding of resource lists), the scheduler and the kubelet. No I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_NANO = 10**9
_MAX_INT64 = 2**63 - 1

_DEC_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {v: k for k, v in _DEC_SUFFIXES.items()}
_BIN_BY_EXP = {0: "", **{v: k for k, v in _BIN_SUFFIXES.items()}}
_SUFFIX_CHARS = set("eEinumkKMGTP")


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact quantity: ``nanos`` × 10⁻⁹, remembered with the suffix family it was written in."""

    nanos: int
    format: str = DECIMAL_SI

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos == other.nanos

    def __lt__(self, other: Quantity) -> bool:
        return self.nanos < other.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)

    def __str__(self) -> str:
        return canonical(self)

    def __add__(self, other: Quantity) -> Quantity:
        return add(self, other)

    def __sub__(self, other: Quantity) -> Quantity:
        return sub(self, other)

    def is_zero(self) -> bool:
        return self.nanos == 0

    def sign(self) -> int:
        return (self.nanos > 0) - (self.nanos < 0)

    def as_fraction(self) -> Fraction:
        return Fraction(self.nanos, _NANO)


def _split(s: str) -> tuple[bool, str, str, str, str]:
    """parseQuantityString: (positive, value, num, denom, suffix); raises on a malformed tail."""
    positive = True
    pos, end = 0, len(s)
    if pos < end and s[0] in "+-":
        positive = s[0] != "-"
        pos += 1
    while True:  # strip leading zeros
        if pos >= end:
            return positive, "0", "0", "", ""
        if s[pos] != "0":
            break
        pos += 1
    start = pos
    while pos < end and s[pos].isascii() and s[pos].isdigit():
        pos += 1
    num = s[start:pos] or "0"
    if pos >= end:
        return positive, s, s[start:end] or "0", "", ""
    denom = ""
    if s[pos] == ".":
        pos += 1
        dstart = pos
        while pos < end and s[pos].isascii() and s[pos].isdigit():
            pos += 1
        denom = s[dstart:pos]
        if pos >= end:
            return positive, s, num, denom, ""
    value = s[:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos].isascii() and s[pos].isdigit():
        pos += 1
    if pos < end:
        raise ValueError(ERR_FORMAT_WRONG)
    return positive, value, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix, as quantitySuffixer.interpret."""
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[0] in "+-" else digits
        if body and body.isascii() and body.isdigit() and -(2**63) <= int(digits) < 2**63:
            return 10, int(digits), DECIMAL_EXPONENT
    raise ValueError(ERR_SUFFIX)


def _ceil_away(numerator: int, denominator: int) -> int:
    """numerator/denominator rounded away from zero (inf.RoundUp)."""
    q, r = divmod(abs(numerator), denominator)
    if r:
        q += 1
    return q if numerator >= 0 else -q


def parse(s: str | int | float) -> Quantity:
    """ParseQuantity. JSON numbers are accepted as their decimal text; surrounding spaces are
    trimmed (as Quantity.UnmarshalJSON does). Raises ValueError with upstream's messages."""
    if isinstance(s, bool):
        raise ValueError(ERR_FORMAT_WRONG)
    if isinstance(s, int):
        s = str(s)
    elif isinstance(s, float):
        text = repr(s)
        s = text.replace("e+", "e") if "e" in text else format(Decimal(text), "f")
    s = s.strip()
    if not s:
        raise ValueError(ERR_FORMAT_WRONG)
    if s == "0":
        return Quantity(0, DECIMAL_SI)
    positive, value, num, denom, suffix = _split(s)
    base, exponent, fmt = _interpret(suffix)

    # Both of upstream's paths (the int64 fast path and the inf.Dec slow path) amount to the
    # exact value of the digits, rounded up to nano precision below.
    digits = int(num + denom) if (num + denom).isdigit() else 0
    exact = Fraction(digits, 10 ** len(denom))
    exact *= Fraction(10) ** exponent if base == 10 else Fraction(2) ** exponent
    scaled = exact * _NANO
    nanos = _ceil_away(scaled.numerator, scaled.denominator)
    if fmt == BINARY_SI and nanos > _MAX_INT64 * _NANO:
        nanos = _MAX_INT64 * _NANO
    if fmt == BINARY_SI and 0 < nanos < _NANO:
        fmt = DECIMAL_SI  # values between 0 and 1 are shown in decimal, as upstream
    return Quantity(nanos if positive else -nanos, fmt)


def _remove_factors(value: int, base: int) -> tuple[int, int]:
    negative = value < 0
    v, times = abs(value), 0
    while v >= base and v % base == 0:
        v //= base
        times += 1
    return (-v if negative else v), times


def canonical(q: Quantity) -> str:
    """The string kube-apiserver serializes: largest exponent, no fraction, no precision lost."""
    if q.nanos == 0:
        return "0"
    fmt = q.format
    if fmt == BINARY_SI:
        if -1024 * _NANO < q.nanos < 1024 * _NANO or q.nanos % _NANO:
            fmt = DECIMAL_SI
        else:
            number, times = _remove_factors(q.nanos // _NANO, 1024)
            return f"{number}{_BIN_BY_EXP.get(times * 10, '')}"
    elif fmt != DECIMAL_SI:
        fmt = DECIMAL_EXPONENT
    mantissa, times = _remove_factors(q.nanos, 10)
    exponent = times - 9
    shift = exponent % 3  # move down to the nearest multiple of 3
    mantissa *= 10**shift
    exponent -= shift
    if fmt == DECIMAL_SI:
        return f"{mantissa}{_DEC_BY_EXP.get(exponent, '')}"
    return f"{mantissa}" if exponent == 0 else f"{mantissa}e{exponent}"


def canonicalize(s: str | int | float) -> str:
    """parse then canonical: what the API server stores and returns for a quantity field."""
    return canonical(parse(s))


def compare(a: Quantity, b: Quantity) -> int:
    return (a.nanos > b.nanos) - (a.nanos < b.nanos)


def add(a: Quantity, b: Quantity) -> Quantity:
    return Quantity(a.nanos + b.nanos, b.format if a.nanos == 0 else a.format)


def sub(a: Quantity, b: Quantity) -> Quantity:
    return Quantity(a.nanos - b.nanos, b.format if a.nanos == 0 else a.format)


def scaled_value(q: Quantity, scale: int) -> int:
    """The value in units of 10^scale, rounded away from zero (ScaledValue)."""
    shift = scale + 9
    if shift >= 0:
        return _ceil_away(q.nanos, 10**shift)
    return q.nanos * 10 ** (-shift)


def value(q: Quantity) -> int:
    """Value(): whole units, rounded up (away from zero)."""
    return scaled_value(q, 0)


def milli_value(q: Quantity) -> int:
    """MilliValue(): thousandths, rounded up (away from zero)."""
    return scaled_value(q, -3)


def round_up(q: Quantity, scale: int) -> Quantity:
    """RoundUp(scale): drop precision finer than 10^scale, rounding away from zero."""
    if scale <= -9:
        return q
    unit = 10 ** (scale + 9)
    return Quantity(_ceil_away(q.nanos, unit) * unit, q.format)


def from_int(n: int, fmt: str = DECIMAL_SI) -> Quantity:
    return Quantity(n * _NANO, fmt)


def from_milli(n: int, fmt: str = DECIMAL_SI) -> Quantity:
    return Quantity(n * 10**6, fmt)
