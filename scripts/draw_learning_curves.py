"""Draw a metric against wall-clock time from runs' TensorBoard events, beside peers' figures.

    .venv/bin/python scripts/draw_learning_curves.py \\
        --run "rnnkit BiLSTM-CRF=logs/conll2003_bilstm_crf/runs/<timestamp>" \\
        --metric val/entity_f1 --final test/entity_f1 --scale 100 \\
        --point "flair BiLSTM-CRF, 2 epochs, test=79.6@2x2.2" \\
        --point "rnnkit, 2 epochs, test=76.7@2" \\
        --output docs/images/learning_curve_conll2003.png [--log-dir <folder>]

Each ``--run LABEL=FOLDER`` is read with TensorBoard's ``EventAccumulator``: ``--metric`` (one
value per validation) becomes a curve over the minutes since the run's first event, and
``--final`` (the test metric, logged once at the end) a star at its time. ``--line
LABEL=VALUE`` draws a peer's published figure as a horizontal line; ``--point
LABEL=VALUE@EPOCHS[xFACTOR]`` a marker at the time the first run had finished ``EPOCHS``
epochs (its ``EPOCHS``-th ``--metric`` value), times ``FACTOR`` (a peer ``FACTOR`` times
slower). The PNG goes to ``--output``, and the same figure is logged to TensorBoard
(``SummaryWriter.add_figure``, tag ``learning_curve/<metric>``) in ``--log-dir``, by default
the first run's folder; ``--log-dir none`` logs nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from rnnkit.figures.learning_curve import Curve, learning_curve_figure

POINT = re.compile(r"^(?P<label>.+)=(?P<value>[-+0-9.eE]+)@(?P<epochs>\d+)(x(?P<factor>[0-9.]+))?$")


class UsageError(ValueError):
    """A bad argument or run folder: reported on one line, exit status 2."""


def read_scalars(folder: Path) -> tuple[float, dict[str, list[tuple[float, float]]]]:
    """``folder``'s TensorBoard events -> (start wall time, {tag: [(wall time, value), ...]})."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not folder.is_dir() or not any(folder.glob("events.out.tfevents.*")):
        raise UsageError(f"{folder}: no TensorBoard event files (events.out.tfevents.*) there")
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    scalars = {
        tag: [(event.wall_time, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }
    # the run starts at its earliest record: the event file's header, written when the
    # logger was made, or an earlier scalar's own wall time (walltime= given by hand)
    earliest = [events[0][0] for events in scalars.values() if events]
    return min([accumulator.FirstEventTimestamp(), *earliest]), scalars


def run_curve(label: str, folder: Path, metric: str, final: str | None, scale: float):
    """One run's ``Curve`` of ``metric`` (and the ``final`` star), values times ``scale``."""
    start, scalars = read_scalars(folder)
    missing = [tag for tag in (metric, final) if tag and tag not in scalars]
    if missing:
        raise UsageError(
            f"{folder}: no scalar {missing[0]!r} in its events; it has {sorted(scalars)}"
        )
    minutes = [(time - start) / 60 for time, _ in scalars[metric]]
    values = [value * scale for _, value in scalars[metric]]
    end = None
    if final:
        time, value = scalars[final][-1]
        end = ((time - start) / 60, value * scale)
    return Curve(f"{label}, {metric}", minutes, values, end)


def split_label(text: str, option: str) -> tuple[str, str]:
    label, _, rest = text.rpartition("=")
    if not label or not rest:
        raise UsageError(f"{option} {text!r}: expected LABEL=...")
    return label, rest


def parse_line(text: str) -> tuple[str, float]:
    label, value = split_label(text, "--line")
    try:
        return label, float(value)
    except ValueError:
        raise UsageError(f"--line {text!r}: expected LABEL=VALUE with a number") from None


def parse_point(text: str, first: Curve) -> tuple[str, float, float]:
    match = POINT.match(text)
    if match is None:
        raise UsageError(
            f"--point {text!r}: expected LABEL=VALUE@EPOCHS or LABEL=VALUE@EPOCHSxFACTOR"
        )
    epochs = int(match["epochs"])
    if not 1 <= epochs <= len(first.minutes):
        raise UsageError(
            f"--point {text!r}: the first run has {len(first.minutes)} epochs of "
            f"values, not {epochs}"
        )
    factor = float(match["factor"] or 1.0)
    return match["label"], first.minutes[epochs - 1] * factor, float(match["value"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, help="LABEL=FOLDER")
    parser.add_argument("--metric", required=True, help="per-validation scalar, e.g. val/mse")
    parser.add_argument("--final", default=None, help="end-of-run scalar, e.g. test/mse")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply values (100: %%)")
    parser.add_argument("--line", action="append", default=[], help="LABEL=VALUE")
    parser.add_argument("--point", action="append", default=[], help="LABEL=VALUE@EPOCHS[xF]")
    parser.add_argument("--title", default=None)
    parser.add_argument("--ylabel", default=None, help="default: the metric's name")
    parser.add_argument("--output", required=True, help="the PNG to write")
    parser.add_argument("--log-dir", default=None, help="TensorBoard folder (none: no logging)")
    arguments = parser.parse_args(argv)
    try:
        runs = [split_label(text, "--run") for text in arguments.run]
        curves = [
            run_curve(label, Path(folder), arguments.metric, arguments.final, arguments.scale)
            for label, folder in runs
        ]
        lines = [parse_line(text) for text in arguments.line]
        points = [parse_point(text, curves[0]) for text in arguments.point]
    except UsageError as error:
        print(f"draw_learning_curves: {error}", file=sys.stderr)
        return 2
    figure = learning_curve_figure(
        curves,
        title=arguments.title or f"{arguments.metric} against wall-clock time",
        ylabel=arguments.ylabel or arguments.metric,
        lines=lines,
        points=points,
    )
    output = Path(arguments.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110, metadata={"Software": None})
    print(output)
    log_dir = arguments.log_dir or runs[0][1]
    if log_dir.lower() != "none":
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(log_dir) as writer:
            writer.add_figure(f"learning_curve/{arguments.metric}", figure)
        print(f"logged learning_curve/{arguments.metric} to {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
