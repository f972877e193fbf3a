"""A piano roll: which keys sound at each time step, optionally above the model's probabilities
(music logs a generated piece and a validation piece's predictions)."""

from __future__ import annotations

import numpy as np

from rnnkit.figures.offscreen import plt

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(pitch: int) -> str:
    """``60`` -> ``C4`` (MIDI pitch to scientific pitch notation)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def piano_roll_figure(
    roll,
    lowest_pitch: int = 21,
    probabilities=None,
    seed_steps: int = 0,
    title: str = "piano roll",
    steps_per_beat: int = 1,
):
    """``roll (T, K)`` in {0, 1} as black cells over time (x) and pitch (y, key ``k`` is pitch
    ``lowest_pitch + k``), cropped to the pitches used; with ``probabilities (T, K)`` a second
    panel shows the model's probability of each key below it. A vertical line marks the end of
    the first ``seed_steps`` steps (a seed that generation continued)."""
    roll = np.asarray(roll, dtype=float)
    if roll.ndim != 2:
        raise ValueError(f"roll: expected (T, K), got shape {roll.shape}")
    panels = [("notes", roll, "Greys")]
    if probabilities is not None:
        probabilities = np.asarray(probabilities, dtype=float)
        if probabilities.shape != roll.shape:
            raise ValueError(
                f"probabilities: expected the roll's shape {roll.shape}, got {probabilities.shape}"
            )
        panels.append(("probability", probabilities, "magma_r"))
    used = np.flatnonzero(roll.any(axis=0))
    low, high = (int(used.min()), int(used.max())) if used.size else (39, 60)
    low, high = max(low - 3, 0), min(high + 3, roll.shape[1] - 1)
    figure, axes = plt.subplots(
        len(panels),
        1,
        figsize=(max(6.0, min(16.0, roll.shape[0] / 8)), 2.6 * len(panels)),
        squeeze=False,
        sharex=True,
    )
    for axis, (label, values, colormap) in zip(axes[:, 0], panels):
        image = axis.imshow(
            values[:, low : high + 1].T,
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            cmap=colormap,
            vmin=0.0,
            vmax=1.0,
            extent=(-0.5, roll.shape[0] - 0.5, lowest_pitch + low - 0.5, lowest_pitch + high + 0.5),
        )
        ticks = [p for p in range(lowest_pitch + low, lowest_pitch + high + 1) if p % 12 == 0]
        axis.set_yticks(ticks, [pitch_name(p) for p in ticks])
        axis.set_ylabel(label)
        if seed_steps:
            axis.axvline(seed_steps - 0.5, color="tab:blue", linewidth=1.5)
        if label == "probability":
            figure.colorbar(image, ax=axis, fraction=0.025, pad=0.01)
    unit = {1: "quarter notes", 2: "eighth notes", 4: "sixteenth notes"}.get(
        steps_per_beat, "steps"
    )
    axes[-1, 0].set_xlabel(f"time ({unit})")
    axes[0, 0].set_title(title)
    figure.tight_layout()
    return figure
