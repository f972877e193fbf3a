"""Pictures of recurrent architectures: unrolled-in-time diagrams from a plain description."""

from rnnkit.diagrams.unrolled import (
    PATTERNS,
    ArchitectureSpec,
    artists_with_role,
    describe,
    draw_unrolled,
    save_figure,
)

__all__ = [
    "PATTERNS",
    "ArchitectureSpec",
    "artists_with_role",
    "describe",
    "draw_unrolled",
    "save_figure",
]
