"""Metric values as a person reads them: significant digits, not fixed decimals."""

from __future__ import annotations

import math

__all__ = ["format_metric", "format_metrics"]


def format_metric(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, without a wall of digits or a false zero.

    Between 1e-4 and 1e6 the number is written plainly (``0.9987``, ``1.423``, ``0.0003172``,
    ``48.21``, ``12346``: an integer part is never cut); outside that range in scientific
    notation (``3.172e-07``, ``1.235e+08``). Zero is ``0``; NaN and infinities are ``nan``,
    ``inf``, ``-inf``.

    >>> format_metric(0.99871234), format_metric(123456.789), format_metric(3.1e-5)
    ('0.9987', '123457', '3.100e-05')
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    scientific = f"{value:.{digits - 1}e}"
    magnitude = int(scientific.split("e")[1])  # after rounding: 0.99999 is 1.000, not 1.0000
    if not -4 <= magnitude < 6:
        return scientific
    return f"{value:.{max(digits - 1 - magnitude, 0)}f}"


def format_metrics(metrics: dict[str, float], digits: int = 4) -> str:
    """``name value`` pairs on one line, two spaces apart (the console's epoch line)."""
    return "  ".join(f"{name} {format_metric(value, digits)}" for name, value in metrics.items())
