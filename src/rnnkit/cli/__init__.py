"""Command-line entry points: rnnkit-train, rnnkit-eval, rnnkit-predict, rnnkit-draw.

Each ``rnnkit-<command>`` is also ``python -m rnnkit.cli.<command>`` (same arguments).
"""
