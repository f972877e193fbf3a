"""pyplot on matplotlib's Agg backend: every figure module draws through this ``plt``.

Agg renders to memory only, so figures are drawn on machines without a display (training
servers, CI) and never open a window.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt"]
