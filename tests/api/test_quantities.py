"""Quantities parse and serialize exactly as resource.Quantity does."""

import pytest

from kybernetes.api import quantities as q


@pytest.mark.parametrize("raw, canonical", [
    ("1000m", "1"), ("0.5", "500m"), ("1.5", "1500m"), ("100m", "100m"), ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"),
    ("0.5Gi", "512Mi"), ("1536", "1536"), ("1e3", "1e3"), ("10e3", "10e3"), ("12e6", "12e6"), ("1k", "1k"),
    ("1000", "1k"), ("0.0001", "100u"), ("0.1m", "100u"), ("0.000000001", "1n"), ("-1", "-1"), ("-0.5", "-500m"),
    ("0", "0"), ("0Mi", "0"), ("1.1Ki", "1126400m"), ("+1Ki", "1Ki"), ("  3 ", "3"), ("1E", "1E"),
    (2, "2"), (0.5, "500m"),
])
def test_canonical_form(raw, canonical) -> None:
    assert q.canonical(q.parse(raw)) == canonical
    assert q.canonicalize(raw) == canonical


@pytest.mark.parametrize("raw, message", [
    ("abc", q.ERR_FORMAT_WRONG), ("1.5.5", q.ERR_FORMAT_WRONG), ("", q.ERR_FORMAT_WRONG),
    ("1Gi1", q.ERR_SUFFIX), ("1e", q.ERR_SUFFIX), ("1K", q.ERR_SUFFIX),
])
def test_invalid_quantities(raw, message) -> None:
    with pytest.raises(ValueError) as e:
        q.parse(raw)
    assert str(e.value) == message


def test_format_error_text_is_upstreams() -> None:
    assert q.ERR_FORMAT_WRONG == "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def test_compare_and_equality_by_value() -> None:
    assert q.parse("1Ki") == q.parse("1024")
    assert q.parse("500m") < q.parse("1")
    assert q.compare(q.parse("2"), q.parse("1500m")) == 1
    assert q.compare(q.parse("1"), q.parse("1000m")) == 0


def test_arithmetic_keeps_first_format() -> None:
    total = q.add(q.parse("1Gi"), q.parse("512Mi"))
    assert q.canonical(total) == "1536Mi"
    assert q.canonical(q.sub(q.parse("1"), q.parse("250m"))) == "750m"
    assert q.canonical(q.add(q.parse("0"), q.parse("1Ki"))) == "1Ki"


def test_values_round_up() -> None:
    assert q.milli_value(q.parse("1.5")) == 1500
    assert q.milli_value(q.parse("1n")) == 1
    assert q.value(q.parse("1500m")) == 2
    assert q.value(q.parse("2Ki")) == 2048
    assert q.canonical(q.round_up(q.parse("0.0001"), -3)) == "1m"
