"""Metric values printed to significant digits (rnnkit.metrics.display)."""

from __future__ import annotations

import math

import pytest

from rnnkit.metrics.display import format_metric, format_metrics


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.99871234, "0.9987"),
        (1.4234, "1.423"),
        (48.2134, "48.21"),
        (12345.6, "12346"),  # an integer part is never cut
        (123456.789, "123457"),
        (0.00031721, "0.0003172"),  # not 0.0003, and not 0.0000
        (3.1e-5, "3.100e-05"),
        (2.5e9, "2.500e+09"),  # a huge MAPE: not a wall of digits
        (-0.5, "-0.5000"),
        (0.99999, "1.000"),  # rounding that reaches the next power of ten
        (0.0, "0"),
        (math.nan, "nan"),
        (math.inf, "inf"),
    ],
)
def test_four_significant_digits(value, text):
    assert format_metric(value) == text


@pytest.mark.parametrize("value", [7.123456e-9, 0.01234567, 3.14159, 98765.4321, 1.5e12])
def test_the_printed_value_is_the_value_to_its_precision(value):
    printed = float(format_metric(value))
    assert printed == pytest.approx(value, rel=5e-4)
    assert len(format_metric(value)) <= 10


def test_a_line_of_metrics():
    assert format_metrics({"loss": 0.1234567, "acc": 0.5}) == "loss 0.1235  acc 0.5000"
