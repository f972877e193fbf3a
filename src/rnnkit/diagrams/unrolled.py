"""Unrolled-in-time pictures of a recurrent architecture, in the style of the classic figures.

Inputs ``x_t`` along the bottom, hidden states ``h_t`` in the middle with the recurrence
``h_{t-1} -> h_t`` drawn as horizontal arrows, outputs ``y_t`` on top. The five I/O patterns
differ in which inputs and outputs exist::

    one_to_one        x -> h -> y                      (no recurrence)
    one_to_many       x_1 at step 1, y_t at every step (outputs fed back as the next input)
    many_to_one       x_t at every step, y at the end  (or pooled over all steps)
    many_to_many      x_t and y_t at every step        (aligned: tagging, language models)
    encoder_decoder   encoder over x_1..x_S -> context c -> decoder producing y_1..y_T,
                      optionally with attention lines from every decoder state to every
                      encoder state

Bidirectional layers add a row of backward states ``<-h_t`` with right-to-left arrows (a dot
above each column joins both directions for the next layer); stacked layers add rows; LSTM-like
cells (whose name contains ``lstm``) carry the cell state ``c_t`` as a second horizontal line.

Pure matplotlib without pyplot (no global figure state, the Agg canvas): no Lightning or Hydra
here. Every drawn element has a ``gid`` naming its role (:data:`ROLES`), so callers and tests
count elements with :func:`artists_with_role` rather than looking at pixels.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as CurvePath

PATTERNS = ("one_to_one", "one_to_many", "many_to_one", "many_to_many", "encoder_decoder")
FEEDBACKS = ("none", "solid", "dashed")
POOLINGS = ("last", "mean", "max", "attention")
OUTPUT_FORMATS = (".png", ".svg", ".pdf")
MAX_STEPS = 12
# Cells without a recurrence (the order-blind baseline): no horizontal arrows are drawn.
NON_RECURRENT_CELLS = frozenset({"feedforward", "feed_forward"})
CELL_DISPLAY_NAMES = {
    "rnn": "RNN",
    "lstm": "LSTM",
    "gru": "GRU",
    "feed_forward": "feed-forward",
    "feedforward": "feed-forward",
}

# (steps_in, steps_out) when not given.
DEFAULT_STEPS = {
    "one_to_one": (1, 1),
    "one_to_many": (1, 4),
    "many_to_one": (4, 1),
    "many_to_many": (4, 4),
    "encoder_decoder": (4, 3),
}
DEFAULT_FEEDBACK = {"one_to_many": "dashed", "encoder_decoder": "dashed"}

# Colours: inputs blue, hidden states green, outputs red, the context vector gold.
FILL = {
    "input": "#dbe9f6",
    "hidden": "#dcefd6",
    "output": "#f8dcd6",
    "context": "#ffd966",
    "pooling": "#ffffff",
}
EDGE = {
    "input": "#3d78b5",
    "hidden": "#4f8f3a",
    "output": "#c0432b",
    "context": "#a67c00",
    "pooling": "#777777",
}
LINE = {
    "layer": "#555555",
    "recurrence": "#222222",
    "cell_state": "#7b5ea7",
    "attention": "#e08a1e",
    "feedback": EDGE["output"],
    "pooling": "#777777",
    "final_state": "#222222",
    "junction": "#555555",
}
ROLES = (
    "input",
    "hidden",
    "output",
    "context",
    "pooling",
    "junction",
    "layer",
    "recurrence",
    "cell_state",
    "attention",
    "feedback",
    "final_state",
    "label",
    "title",
)

COLUMN = 1.8  # horizontal distance between time steps
IO_SIZE = (0.8, 0.5)  # input / output boxes (width, height)
HIDDEN_WIDTH = 0.84
HIDDEN_HEIGHT = 0.55
LSTM_HEIGHT = 0.8  # room for the cell-state line
ARROW = 0.5  # vertical gap between a box and the next one above it
STAGGER = 0.42  # bidirectional layers: forward boxes left, backward boxes right of the column
PAIR_GAP = 0.45  # between the forward and the backward row of a bidirectional layer
JUNCTION_GAP = 0.4  # from the backward row up to the dot joining both directions
ROUTE_GAP = 0.16  # spacing of parallel routed lines (backward final states)
SCALE = 0.5  # inches per data unit
MIN_WIDTH = 5.0  # data units, so that short titles fit
DPI = 120


@dataclass(frozen=True)
class ArchitectureSpec:
    """What to draw: a small plain description of a recurrent architecture.

    Args:
        pattern: one of :data:`PATTERNS`.
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a custom cell's name (``"peephole_lstm"``);
            names containing ``lstm`` get a cell-state line, ``"feedforward"`` no recurrence.
        num_layers: stacked layers (rows), >= 1.
        bidirectional: adds a backward row per layer (the encoder's, for ``encoder_decoder``).
        attention: e.g. ``"additive"``, or None; ``encoder_decoder`` (decoder states to encoder
            states) and ``one_to_many`` (states to the input, e.g. image regions) only.
        steps_in: input steps (encoder steps for ``encoder_decoder``); default per pattern.
        steps_out: output steps; for ``many_to_one`` > 1 means several outputs from the final
            state (a direct multi-step head). Default per pattern.
        title: the figure title; None describes the architecture (:func:`describe`).
        feedback: ``"none"``, ``"solid"`` (outputs are the next inputs, as an autoregressive
            forecaster) or ``"dashed"`` (fed back in generation only, teacher forcing in
            training); None: dashed for ``one_to_many`` and ``encoder_decoder``, else none.
        pooling: ``many_to_one`` only: ``"last"`` (final states), ``"mean"``, ``"max"`` or
            ``"attention"`` over all steps.
        decoder_layers: ``encoder_decoder`` only: the decoder's stacked layers (default
            ``num_layers``).
    """

    pattern: str
    cell: str = "lstm"
    num_layers: int = 1
    bidirectional: bool = False
    attention: str | None = None
    steps_in: int | None = None
    steps_out: int | None = None
    title: str | None = None
    feedback: str | None = None
    pooling: str = "last"
    decoder_layers: int | None = None

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern: expected one of {PATTERNS}, got {self.pattern!r}")
        if not isinstance(self.cell, str) or not self.cell.strip():
            raise ValueError(f"cell: expected a non-empty cell name, got {self.cell!r}")
        _check_count("num_layers", self.num_layers, 1, 8)
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional: expected a bool, got {self.bidirectional!r}")
        default_in, default_out = DEFAULT_STEPS[self.pattern]
        steps_in = default_in if self.steps_in is None else self.steps_in
        steps_out = default_out if self.steps_out is None else self.steps_out
        if self.pattern == "many_to_many" and self.steps_out is None:
            steps_out = steps_in
        _check_count("steps_in", steps_in, 1, MAX_STEPS)
        _check_count("steps_out", steps_out, 1, MAX_STEPS)
        object.__setattr__(self, "steps_in", steps_in)
        object.__setattr__(self, "steps_out", steps_out)
        self._check_pattern_steps()
        feedback = (
            DEFAULT_FEEDBACK.get(self.pattern, "none") if self.feedback is None else (self.feedback)
        )
        if feedback not in FEEDBACKS:
            raise ValueError(f"feedback: expected one of {FEEDBACKS} or None, got {feedback!r}")
        object.__setattr__(self, "feedback", feedback)
        if self.decoder_layers is None:
            object.__setattr__(self, "decoder_layers", self.num_layers)
        _check_count("decoder_layers", self.decoder_layers, 1, 8)
        if self.decoder_layers != self.num_layers and self.pattern != "encoder_decoder":
            raise ValueError(
                f"decoder_layers: only encoder_decoder has a decoder, got "
                f"decoder_layers={self.decoder_layers} with pattern={self.pattern!r}"
            )
        self._check_options()

    def _check_pattern_steps(self) -> None:
        fixed = {"one_to_one": ("steps_in", "steps_out"), "one_to_many": ("steps_in",)}
        for name in fixed.get(self.pattern, ()):
            if getattr(self, name) != 1:
                raise ValueError(
                    f"{name}: a {self.pattern} architecture has exactly 1, "
                    f"got {getattr(self, name)}"
                )
        if self.pattern == "many_to_many" and self.steps_in != self.steps_out:
            raise ValueError(
                f"steps_out: many_to_many is aligned, expected steps_out == steps_in "
                f"({self.steps_in}), got {self.steps_out} (use encoder_decoder for unaligned)"
            )

    def _check_options(self) -> None:
        if self.attention is not None and (
            not isinstance(self.attention, str) or not self.attention.strip()
        ):
            raise ValueError(
                f"attention: expected a name such as 'additive' or None, got {self.attention!r}"
            )
        if self.attention is not None and self.pattern not in ("encoder_decoder", "one_to_many"):
            raise ValueError(
                f"attention: only drawn for encoder_decoder and one_to_many, got "
                f"attention={self.attention!r} with pattern={self.pattern!r}"
                + (" (use pooling='attention')" if self.pattern == "many_to_one" else "")
            )
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling: expected one of {POOLINGS}, got {self.pooling!r}")
        if self.pooling != "last" and self.pattern != "many_to_one":
            raise ValueError(
                f"pooling: only many_to_one pools over time, got pooling={self.pooling!r} "
                f"with pattern={self.pattern!r}"
            )
        if self.feedback != "none" and self.pattern in ("one_to_one", "many_to_one"):
            raise ValueError(
                f"feedback: {self.pattern} has no output sequence to feed back, "
                f"got {self.feedback!r}"
            )
        generating = self.pattern == "one_to_many" or (
            self.pattern == "many_to_many" and self.feedback != "none"
        )
        if self.bidirectional and generating:
            raise ValueError(
                f"bidirectional: a {self.pattern} model feeding its outputs back generates "
                "left to right and cannot be bidirectional, got bidirectional=True"
            )

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def hidden_rows(self) -> int:
        """Rows of hidden states in the (encoder) stack: ``num_layers * directions``."""
        return self.num_layers * self.directions

    @property
    def has_cell_state(self) -> bool:
        return "lstm" in self.cell.lower()

    @property
    def is_recurrent(self) -> bool:
        return self.cell.lower() not in NON_RECURRENT_CELLS

    @property
    def cell_display_name(self) -> str:
        return CELL_DISPLAY_NAMES.get(self.cell.lower(), self.cell)


def _check_count(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: expected an integer in [{low}, {high}], got {value!r}")


def describe(spec: ArchitectureSpec) -> str:
    """A one-line summary, e.g. ``many-to-one: 2-layer bidirectional LSTM, mean pooling``."""
    parts = [f"{spec.num_layers}-layer"] if spec.num_layers > 1 else []
    if spec.bidirectional:
        parts.append("bidirectional")
    parts.append(spec.cell_display_name)
    if spec.pattern == "encoder_decoder" and spec.bidirectional:
        parts.append("encoder")
    details = [" ".join(parts)]
    if spec.attention:
        details.append(f"{spec.attention} attention")
    if spec.pooling != "last":
        details.append(f"{spec.pooling} pooling")
    if spec.pattern == "many_to_one" and spec.steps_out > 1:
        details.append("all steps at once from the final state")
    if spec.decoder_layers != spec.num_layers:
        details.append(f"{spec.decoder_layers}-layer decoder")
    if spec.feedback == "solid":
        details.append("outputs fed back")
    elif spec.feedback == "dashed":
        details.append("outputs fed back when generating")
    pattern = spec.pattern.replace("_to_", "-to-").replace("_", "-")
    return f"{pattern}: " + ", ".join(details)


def artists_with_role(figure: Figure, role: str) -> list[Artist]:
    """The figure's drawn elements whose ``gid`` is ``role`` (one of :data:`ROLES`)."""
    if role not in ROLES:
        raise ValueError(f"role: expected one of {ROLES}, got {role!r}")
    return [artist for artist in figure.findobj() if artist.get_gid() == role]


def check_output_path(output: str | Path) -> Path:
    """``output`` as a Path, if its extension is one of :data:`OUTPUT_FORMATS`."""
    path = Path(output)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise ValueError(
            f"output: expected a file name ending in {', '.join(OUTPUT_FORMATS)}, "
            f"got {str(output)!r}"
        )
    return path


def save_figure(figure: Figure, output: str | Path) -> Path:
    """Write ``figure`` to ``output`` (format from the extension; parent folders created)."""
    path = check_output_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(
        path,
        format=path.suffix.lower()[1:],
        dpi=DPI,
        metadata={"Software": None} if path.suffix.lower() == ".png" else None,
    )
    return path


# ---------------------------------------------------------------------------------------------
# Drawing primitives


def _text_width(label: str, fontsize: float) -> float:
    """A generous estimate of a label's width in data units (mathtext markup not counted)."""
    shown = re.sub(r"\\[a-zA-Z]+|[${}_^]", "", label)
    return len(shown) * fontsize * 0.6 / 72 / SCALE


class _Canvas:
    """An axes in data units that remembers the extent of what is drawn."""

    def __init__(self) -> None:
        self.figure = Figure()
        FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_axes((0.0, 0.0, 1.0, 1.0))
        self.axes.set_axis_off()
        self.low = [float("inf"), float("inf")]
        self.high = [float("-inf"), float("-inf")]

    def extend(self, x: float, y: float) -> None:
        self.low = [min(self.low[0], x), min(self.low[1], y)]
        self.high = [max(self.high[0], x), max(self.high[1], y)]

    def box(
        self,
        x: float,
        y: float,
        size: tuple[float, float],
        kind: str,
        label: str = "",
        *,
        linewidth: float = 1.3,
        fontsize: float = 10.0,
        label_y: float | None = None,
    ) -> None:
        width, height = size
        self.axes.add_artist(
            FancyBboxPatch(
                (x - width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0,rounding_size=0.1",
                facecolor=FILL[kind],
                edgecolor=EDGE[kind],
                linewidth=linewidth,
                zorder=3,
                gid=kind,
            )
        )
        self.extend(x - width / 2, y - height / 2)
        self.extend(x + width / 2, y + height / 2)
        if label:
            self.text(x, y if label_y is None else label_y, label, fontsize=fontsize)

    def text(
        self,
        x: float,
        y: float,
        label: str,
        *,
        fontsize: float = 10.0,
        ha: str = "center",
        role: str = "label",
        **kwargs,
    ) -> None:
        self.axes.text(
            x, y, label, ha=ha, va="center", fontsize=fontsize, zorder=6, gid=role, **kwargs
        )
        width = _text_width(label, fontsize)
        left = {"center": x - width / 2, "right": x - width, "left": x}[ha]
        self.extend(left, y - 0.2)
        self.extend(left + width, y + 0.2)

    def dot(self, x: float, y: float) -> None:
        self.axes.add_artist(Circle((x, y), 0.06, color=LINE["junction"], zorder=4, gid="junction"))

    def line(
        self,
        points: Sequence[tuple[float, float]],
        role: str,
        *,
        head: bool = True,
        dashed: bool = False,
        curved: bool = False,
        linewidth: float = 1.2,
        color: str | None = None,
        alpha: float = 1.0,
        zorder: float = 2,
    ) -> None:
        """A polyline, or with ``curved`` a cubic Bezier (4 points), ending in an arrowhead."""
        if curved:
            codes = [CurvePath.MOVETO] + [CurvePath.CURVE4] * 3
        else:
            codes = [CurvePath.MOVETO] + [CurvePath.LINETO] * (len(points) - 1)
        self.axes.add_artist(
            FancyArrowPatch(
                path=CurvePath(list(points), codes),
                arrowstyle="-|>,head_length=0.4,head_width=0.2" if head else "-",
                mutation_scale=10,
                color=color or LINE[role],
                linewidth=linewidth,
                linestyle=(0, (4, 2.5)) if dashed else "-",
                alpha=alpha,
                zorder=zorder,
                gid=role,
                joinstyle="round",
            )
        )
        for x, y in points if not curved else (points[0], points[-1]):
            self.extend(x, y)

    def arrow(
        self, start: tuple[float, float], end: tuple[float, float], role: str, **kwargs: object
    ) -> None:
        self.line([start, end], role, **kwargs)

    def finish(self, title: str) -> Figure:
        (x0, y0), (x1, y1) = self.low, self.high
        pad = max(0.2, (MIN_WIDTH - (x1 - x0)) / 2)
        x0, x1, y0 = x0 - pad, x1 + pad, y0 - 0.2
        characters = max(16, int((x1 - x0) / _text_width("m", 11)))
        title = textwrap.fill(title, characters)
        lines = title.count("\n") + 1
        self.axes.text(
            (x0 + x1) / 2,
            y1 + 0.2 + 0.2 * lines,
            title,
            ha="center",
            va="center",
            fontsize=11,
            gid="title",
        )
        top = y1 + 0.3 + 0.4 * lines
        self.axes.set_xlim(x0, x1)
        self.axes.set_ylim(y0, top)
        self.axes.set_aspect("equal")
        self.figure.set_size_inches((x1 - x0) * SCALE, (top - y0) * SCALE)
        self.figure.set_dpi(DPI)
        return self.figure


# ---------------------------------------------------------------------------------------------
# Stacks of hidden rows


@dataclass
class _Level:
    """One layer: the forward row's y, the backward row's y and the joining dots' y (if any)."""

    forward: float
    backward: float | None = None
    junction: float | None = None

    @property
    def rows(self) -> list[tuple[float, int]]:
        """``(y, direction)`` of each row, forward (+1) first."""
        rows = [(self.forward, 1)]
        if self.backward is not None:
            rows.append((self.backward, -1))
        return rows


def _levels(num_layers: int, bidirectional: bool, height: float) -> list[_Level]:
    levels, below = [], IO_SIZE[1] / 2  # the input boxes' top edge
    for _ in range(num_layers):
        forward = below + ARROW + height / 2
        if bidirectional:
            backward = forward + height + PAIR_GAP
            junction = backward + height / 2 + JUNCTION_GAP
            levels.append(_Level(forward, backward, junction))
            below = junction
        else:
            levels.append(_Level(forward))
            below = forward + height / 2
    return levels


@dataclass
class _Stack:
    """Rows of hidden states over the columns ``xs`` (backward rows shifted right)."""

    xs: list[float]
    levels: list[_Level]
    cell_state: bool
    exits: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def height(self) -> float:
        return LSTM_HEIGHT if self.cell_state else HIDDEN_HEIGHT

    @property
    def bidirectional(self) -> bool:
        return self.levels[0].backward is not None

    @property
    def tracks(self) -> tuple[float, float]:
        """Offsets from a row's y of the hidden-state arrows and of the cell-state line."""
        return (-0.12, 0.22) if self.cell_state else (0.0, 0.0)

    @property
    def top(self) -> float:
        level = self.levels[-1]
        if level.junction is not None:
            return level.junction
        return level.rows[-1][0] + self.height / 2

    def box_x(self, step: int, direction: int) -> float:
        return self.xs[step] - direction * STAGGER if self.bidirectional else self.xs[step]


def _hidden_label(symbol: str, step: int, layer: int, direction: int, stack: _Stack) -> str:
    subscript = f"_{{{step + 1}}}" if len(stack.xs) > 1 else ""
    if stack.bidirectional:  # the layer is in the row label
        accent = r"\overrightarrow" if direction > 0 else r"\overleftarrow"
        return f"${accent}{{{symbol}}}{subscript}$"
    superscript = f"^{{({layer + 1})}}" if len(stack.levels) > 1 else ""
    return f"${symbol}{superscript}{subscript}$"


def _draw_stack(
    canvas: _Canvas,
    spec: ArchitectureSpec,
    xs: list[float],
    levels: list[_Level],
    entries: dict[int, float],
    symbol: str,
    top_exits: Sequence[int],
) -> _Stack:
    """Hidden rows over ``xs``; ``entries[i]`` is the top y of the input box of column ``i``.

    The returned stack's ``exits`` are the points the top layer's outputs leave from, for the
    columns in ``top_exits`` (a dot joins both directions of a bidirectional layer).
    """
    stack = _Stack(xs, levels, spec.has_cell_state)
    height = stack.height
    sources = {i: (xs[i], y) for i, y in entries.items()}
    for layer, level in enumerate(levels):
        for row_y, direction in level.rows:
            _draw_row(canvas, spec, stack, row_y, direction, layer, symbol)
        for i, start in sources.items():
            for row_y, direction in level.rows:
                canvas.arrow(start, (stack.box_x(i, direction), row_y - height / 2), "layer")
        wanted = range(len(xs)) if layer < len(levels) - 1 else top_exits
        sources = {}
        for i in wanted:
            if level.junction is None:
                sources[i] = (xs[i], level.forward + height / 2)
                continue
            canvas.dot(xs[i], level.junction)
            for row_y, direction in level.rows:
                canvas.arrow(
                    (stack.box_x(i, direction), row_y + height / 2),
                    (xs[i], level.junction),
                    "layer",
                    head=False,
                )
            sources[i] = (xs[i], level.junction)
    stack.exits = sources
    return stack


def _draw_row(
    canvas: _Canvas,
    spec: ArchitectureSpec,
    stack: _Stack,
    y: float,
    direction: int,
    layer: int,
    symbol: str,
) -> None:
    h_track, c_track = stack.tracks
    half = HIDDEN_WIDTH / 2
    centres = [stack.box_x(step, direction) for step in range(len(stack.xs))]
    for step, x in enumerate(centres):
        label = _hidden_label(symbol, step, layer, direction, stack)
        canvas.box(x, y, (HIDDEN_WIDTH, stack.height), "hidden", label, label_y=y + h_track)
        if stack.cell_state:
            canvas.arrow(
                (x - half, y + c_track),
                (x + half, y + c_track),
                "cell_state",
                head=False,
                linewidth=1.0,
                alpha=0.5,
                zorder=4,
            )
            canvas.text(
                x,
                y + c_track,
                f"$c_{{{step + 1}}}$",
                fontsize=8,
                color=LINE["cell_state"],
                bbox={
                    "boxstyle": "round,pad=0.1",
                    "facecolor": FILL["hidden"],
                    "edgecolor": "none",
                },
            )
    if not spec.is_recurrent:
        return
    for left, right in zip(centres[:-1], centres[1:]):
        start, end = left + half, right - half
        if direction < 0:
            start, end = end, start
        canvas.arrow((start, y + h_track), (end, y + h_track), "recurrence", linewidth=1.4)
        if stack.cell_state:
            canvas.arrow((start, y + c_track), (end, y + c_track), "cell_state", linewidth=1.6)


def _row_labels(
    canvas: _Canvas, spec: ArchitectureSpec, levels: list[_Level], output_y: float
) -> None:
    """Name the rows at the left edge of everything drawn so far."""
    x = canvas.low[0] - 0.2
    kwargs = {"fontsize": 9, "ha": "right", "color": "#444444"}
    canvas.text(x, 0.0, "input", **kwargs)
    for layer, level in enumerate(levels):
        for row_y, direction in level.rows:
            number = f" {layer + 1}" if spec.num_layers > 1 else ""
            arrow = (
                ""
                if spec.pattern == "one_to_one" and not spec.bidirectional
                else (" \u2192" if direction > 0 else " \u2190")
            )
            canvas.text(x, row_y, f"{spec.cell_display_name}{number}{arrow}", **kwargs)
    canvas.text(x, output_y, "output", **kwargs)


# ---------------------------------------------------------------------------------------------
# Patterns


def draw_unrolled(spec: ArchitectureSpec) -> Figure:
    """The unrolled picture of ``spec`` (a new ``Figure``; save it with :func:`save_figure`)."""
    if not isinstance(spec, ArchitectureSpec):
        raise ValueError(f"spec: expected an ArchitectureSpec, got {type(spec).__name__}")
    canvas = _Canvas()
    if spec.pattern == "encoder_decoder":
        _draw_encoder_decoder(canvas, spec)
    else:
        _draw_single_stack(canvas, spec)
    return canvas.finish(describe(spec) if spec.title is None else spec.title)


def _input_boxes(canvas: _Canvas, xs: list[float], labels: dict[int, str]) -> dict[int, float]:
    for i, label in labels.items():
        canvas.box(xs[i], 0.0, IO_SIZE, "input", label)
    return {i: IO_SIZE[1] / 2 for i in labels}


def _output_boxes(
    canvas: _Canvas, sources: dict[int, tuple[float, float]], xs: list[float], y: float
) -> None:
    for i, source in sources.items():
        canvas.box(xs[i], y, IO_SIZE, "output", f"$y_{{{i + 1}}}$" if len(xs) > 1 else "$y$")
        canvas.arrow(source, (xs[i], y - IO_SIZE[1] / 2), "layer")


def _feedback(canvas: _Canvas, spec: ArchitectureSpec, xs: list[float], output_y: float) -> None:
    """Output ``y_t`` (top) becomes the input of step ``t + 1`` (bottom), through the gap."""
    half = IO_SIZE[0] / 2
    for left, right in zip(xs[:-1], xs[1:]):
        middle = (left + right) / 2
        start, end = (left + half, output_y), (right - half, 0.0)
        canvas.line(
            [start, (middle + 0.3, output_y), (middle - 0.3, 0.0), end],
            "feedback",
            curved=True,
            dashed=spec.feedback == "dashed",
            linewidth=1.3,
        )


def _draw_single_stack(canvas: _Canvas, spec: ArchitectureSpec) -> None:
    pattern = spec.pattern
    steps = spec.steps_in if pattern == "many_to_one" else max(spec.steps_in, spec.steps_out)
    xs = [COLUMN * i for i in range(steps)]
    if pattern in ("one_to_one", "one_to_many"):
        labels = {0: "$x$" if pattern == "one_to_one" else "$x_{1}$"}
        if spec.feedback != "none":
            labels.update({i: f"$y_{{{i}}}$" for i in range(1, steps)})
    else:
        labels = {i: f"$x_{{{i + 1}}}$" for i in range(steps)}
    entries = _input_boxes(canvas, xs, labels)
    top_exits = () if pattern == "many_to_one" and spec.pooling == "last" else range(steps)
    height = LSTM_HEIGHT if spec.has_cell_state else HIDDEN_HEIGHT
    levels = _levels(spec.num_layers, spec.bidirectional, height)
    stack = _draw_stack(canvas, spec, xs, levels, entries, "h", top_exits)
    if pattern == "many_to_one":
        output_y = _many_to_one_head(canvas, spec, stack)
    else:
        output_y = stack.top + ARROW + IO_SIZE[1] / 2
        _output_boxes(canvas, stack.exits, xs, output_y)
        if spec.feedback != "none":
            _feedback(canvas, spec, xs, output_y)
    if spec.attention is not None:  # one_to_many: every step looks back at the input (regions)
        bottom = levels[0].forward - height / 2
        corner = (xs[0] + IO_SIZE[0] / 2 - 0.05, IO_SIZE[1] / 2)
        for i, x in enumerate(xs):
            end = (x + 0.25, bottom) if i == 0 else (x - 0.2, bottom)
            canvas.arrow(corner, end, "attention", head=False, alpha=0.8, linewidth=1.0, zorder=1)
    _row_labels(canvas, spec, levels, output_y)


def _many_to_one_head(canvas: _Canvas, spec: ArchitectureSpec, stack: _Stack) -> float:
    """Pooling (or the final states), then ``steps_out`` outputs; returns the outputs' y."""
    xs, level, height = stack.xs, stack.levels[-1], stack.height
    if spec.pooling != "last":
        pool = ((xs[0] + xs[-1]) / 2, stack.top + ARROW + 0.6)
        canvas.box(*pool, (1.4, 0.42), "pooling", spec.pooling, fontsize=9, linewidth=1.0)
        color = LINE["attention"] if spec.pooling == "attention" else LINE["pooling"]
        for x, y in stack.exits.values():
            end = (pool[0] + 0.45 * (x - pool[0]) / max(1.0, xs[-1] - pool[0]), pool[1] - 0.21)
            canvas.arrow((x, y), end, "pooling", color=color, linewidth=1.0)
        source = (pool[0], pool[1] + 0.21)
    elif level.junction is None:
        source = (xs[-1], level.forward + height / 2)
    else:  # the forward direction ends at step T, the backward one at step 1
        source = (xs[-1], level.junction)
        canvas.dot(*source)
        canvas.arrow(
            (stack.box_x(len(xs) - 1, 1), level.forward + height / 2),
            source,
            "final_state",
            head=False,
        )
        first = stack.box_x(0, -1)
        canvas.line(
            [(first, level.backward + height / 2), (first, level.junction), source],
            "final_state",
            head=False,
        )
    count = spec.steps_out
    output_y = source[1] + ARROW + IO_SIZE[1] / 2 + (0.3 if count > 1 else 0.0)
    for k in range(count):
        x = source[0] + (k - (count - 1) / 2) * (IO_SIZE[0] + 0.25)
        label = "$y$" if count == 1 else f"$y_{{{k + 1}}}$"
        canvas.box(x, output_y, IO_SIZE, "output", label)
        canvas.arrow(source, (x, output_y - IO_SIZE[1] / 2), "layer")
    return output_y


def _draw_encoder_decoder(canvas: _Canvas, spec: ArchitectureSpec) -> None:
    shift = STAGGER if spec.bidirectional else 0.0
    source_xs = [COLUMN * i for i in range(spec.steps_in)]
    context_x = source_xs[-1] + shift + COLUMN * 0.85
    target_xs = [context_x + COLUMN * (0.85 + j) for j in range(spec.steps_out)]
    height = LSTM_HEIGHT if spec.has_cell_state else HIDDEN_HEIGHT

    entries = _input_boxes(canvas, source_xs, {i: f"$x_{{{i + 1}}}$" for i in range(spec.steps_in)})
    levels = _levels(spec.num_layers, spec.bidirectional, height)
    attention_exits = range(spec.steps_in) if spec.attention else ()
    encoder = _draw_stack(canvas, spec, source_xs, levels, entries, "h", attention_exits)
    if spec.decoder_layers == spec.num_layers:  # decoder layer l starts from encoder layer l
        decoder_levels = [
            _Level(sum(y for y, _ in level.rows) / len(level.rows)) for level in levels
        ]
    else:
        decoder_levels = _levels(spec.decoder_layers, False, height)
    decoder_entries = _input_boxes(
        canvas, target_xs, {j: f"$y_{{{j}}}$" for j in range(spec.steps_out)}
    )
    decoder = _draw_stack(
        canvas, spec, target_xs, decoder_levels, decoder_entries, "s", range(spec.steps_out)
    )
    _draw_context(canvas, spec, encoder, decoder, context_x)

    output_y = decoder.top + ARROW + IO_SIZE[1] / 2
    if spec.attention:
        band_top = _attention_arcs(canvas, encoder, decoder)
        output_y = max(output_y, band_top + 0.3 + IO_SIZE[1] / 2)
    _output_boxes(canvas, decoder.exits, target_xs, output_y)
    if spec.feedback != "none":
        _feedback(canvas, spec, target_xs, output_y)
    bottom = canvas.low[1] - 0.25
    kwargs = {"fontsize": 9, "color": "#444444", "style": "italic"}
    canvas.text((source_xs[0] + source_xs[-1]) / 2, bottom, "encoder", **kwargs)
    canvas.text((target_xs[0] + target_xs[-1]) / 2, bottom, "decoder", **kwargs)
    _row_labels(canvas, spec, levels, output_y)


def _draw_context(
    canvas: _Canvas, spec: ArchitectureSpec, encoder: _Stack, decoder: _Stack, context_x: float
) -> None:
    """The context vector c: the encoder's final states, the decoder's initial state."""
    height = encoder.height
    rows = [y for stack in (encoder, decoder) for level in stack.levels for y, _ in level.rows]
    low, high = min(rows) - height / 2, max(rows) + height / 2
    width = 0.6
    canvas.box(
        context_x,
        (low + high) / 2,
        (width, high - low),
        "context",
        "$c$",
        linewidth=2.4,
        fontsize=14,
    )
    h_track, c_track = encoder.tracks
    tracks = [(h_track, "final_state")] + ([(c_track, "cell_state")] if spec.has_cell_state else [])
    start = encoder.box_x(len(encoder.xs) - 1, 1) + HIDDEN_WIDTH / 2
    end = decoder.xs[0] - HIDDEN_WIDTH / 2
    for track, role in tracks:
        for level in encoder.levels:
            y = level.forward + track
            canvas.arrow((start, y), (context_x - width / 2, y), role, linewidth=1.5)
        for level in decoder.levels:
            y = level.forward + track
            canvas.arrow((context_x + width / 2, y), (end, y), role, linewidth=1.5)
    if not encoder.bidirectional:
        return
    # Backward rows end at step 1: route their final states under the inputs into c.
    count = len(encoder.levels)
    for layer, level in enumerate(encoder.levels):
        outer = layer  # higher layers run outside the lower ones
        start = (encoder.box_x(0, -1) - HIDDEN_WIDTH / 2, level.backward + h_track)
        margin = encoder.xs[0] - STAGGER - HIDDEN_WIDTH / 2 - 0.3 - ROUTE_GAP * outer
        under = -IO_SIZE[1] / 2 - 0.3 - ROUTE_GAP * outer
        land = context_x + ROUTE_GAP * (outer - (count - 1) / 2)
        canvas.line(
            [start, (margin, start[1]), (margin, under), (land, under), (land, low)],
            "final_state",
            linewidth=1.1,
        )


def _attention_arcs(canvas: _Canvas, encoder: _Stack, decoder: _Stack) -> float:
    """A line from every decoder state to every encoder state; returns the arcs' highest y."""
    top = decoder.levels[-1].forward + decoder.height / 2
    highest = top
    for x_target in decoder.xs:
        for x_source, y_source in encoder.exits.values():
            base = max(top, y_source, encoder.top)
            peak = base + 0.35 + 0.09 * (x_target - x_source) / COLUMN
            points = [
                (x_target - 0.2, top),
                (x_target - 0.35, peak),
                (x_source + 0.25, peak),
                (x_source, y_source),
            ]
            canvas.line(
                points, "attention", curved=True, head=False, alpha=0.6, linewidth=0.9, zorder=1
            )
            highest = max(highest, (top + 6 * peak + y_source) / 8)
    canvas.extend(decoder.xs[0], highest)
    return highest
