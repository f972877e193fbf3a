"""Unrolled diagrams: element counts derived from the spec (never from pixels), layout sanity,
saving, and bad input."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text

from rnnkit.diagrams import (
    PATTERNS,
    ArchitectureSpec,
    artists_with_role,
    describe,
    draw_unrolled,
    unrolled,
)
from rnnkit.diagrams.unrolled import save_figure

CELLS = ("rnn", "lstm", "peephole_lstm", "feedforward")


def valid(pattern: str, bidirectional: bool) -> bool:
    return not (bidirectional and pattern == "one_to_many")


MATRIX = [
    (pattern, cell, num_layers, bidirectional)
    for pattern, cell, num_layers, bidirectional in itertools.product(
        PATTERNS, CELLS, (1, 2), (False, True)
    )
    if valid(pattern, bidirectional) and (cell in ("rnn", "lstm") or num_layers == 1)
]


def count(figure, role: str) -> int:
    return len(artists_with_role(figure, role))


def expected_counts(spec: ArchitectureSpec) -> dict[str, int]:
    """What the picture must hold, counted from the spec by hand."""
    rows = spec.num_layers * (2 if spec.bidirectional else 1)
    steps_in, steps_out = spec.steps_in, spec.steps_out
    recurrent = spec.cell not in ("feedforward",)
    if spec.pattern == "encoder_decoder":
        columns = steps_in
        hidden = steps_in * rows + steps_out * spec.decoder_layers
        inputs, outputs = steps_in + steps_out, steps_out
        recurrence = (steps_in - 1) * rows + (steps_out - 1) * spec.decoder_layers
    else:
        columns = steps_in if spec.pattern == "many_to_one" else max(steps_in, steps_out)
        hidden = columns * rows
        inputs = columns if spec.pattern.startswith("many") else 1
        if spec.pattern == "one_to_many" and spec.feedback != "none":
            inputs = columns
        outputs = steps_out if spec.pattern != "many_to_one" else spec.steps_out
        recurrence = (columns - 1) * rows
    feedback = 0 if spec.feedback == "none" else steps_out - 1
    return {
        "hidden": hidden,
        "input": inputs,
        "output": outputs,
        "context": int(spec.pattern == "encoder_decoder"),
        "recurrence": recurrence if recurrent else 0,
        "feedback": feedback,
        "columns": columns,
    }


@pytest.mark.parametrize(("pattern", "cell", "num_layers", "bidirectional"), MATRIX)
def test_elements_match_the_spec(pattern, cell, num_layers, bidirectional):
    spec = ArchitectureSpec(pattern, cell, num_layers, bidirectional)
    figure = draw_unrolled(spec)
    expected = expected_counts(spec)
    for role in ("hidden", "input", "output", "context", "recurrence", "feedback"):
        assert count(figure, role) == expected[role], role
    assert (count(figure, "cell_state") > 0) == ("lstm" in cell)
    assert count(figure, "attention") == 0
    # A bidirectional layer joins its two directions in one dot per column for the next layer.
    junctions = count(figure, "junction")
    assert (junctions > 0) == (bidirectional and (num_layers > 1 or pattern != "encoder_decoder"))
    titles = artists_with_role(figure, "title")
    assert [" ".join(t.get_text().split()) for t in titles] == [describe(spec)]


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if valid(p, True)])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_bidirectional_adds_a_row_per_layer(pattern, num_layers):
    one = ArchitectureSpec(pattern, "gru", num_layers=num_layers)
    two = ArchitectureSpec(pattern, "gru", num_layers=num_layers, bidirectional=True)
    assert two.hidden_rows == one.hidden_rows + num_layers
    columns = expected_counts(one)["columns"]
    added = count(draw_unrolled(two), "hidden") - count(draw_unrolled(one), "hidden")
    assert added == num_layers * columns
    labels = [t.get_text() for t in artists_with_role(draw_unrolled(two), "label")]
    assert sum("\u2190" in label for label in labels) == num_layers  # one "GRU ←" row label


@pytest.mark.parametrize("decoder_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_decoder_layers(decoder_layers, bidirectional):
    spec = ArchitectureSpec(
        "encoder_decoder", "lstm", 2, bidirectional, decoder_layers=decoder_layers
    )
    figure = draw_unrolled(spec)
    assert count(figure, "hidden") == expected_counts(spec)["hidden"]
    # Every encoder layer's forward final state (h and c) goes into the context vector and
    # every decoder layer's initial state (h and c) comes out of it; backward rows are routed.
    assert count(figure, "final_state") == 2 + decoder_layers + (2 if bidirectional else 0)
    assert count(figure, "context") == 1


@pytest.mark.parametrize(("steps_in", "steps_out"), [(1, 1), (3, 2), (5, 4)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_attention_adds_a_line_per_decoder_encoder_pair(steps_in, steps_out, bidirectional):
    arguments = {"steps_in": steps_in, "steps_out": steps_out, "bidirectional": bidirectional}
    plain = draw_unrolled(ArchitectureSpec("encoder_decoder", "lstm", **arguments))
    attended = draw_unrolled(
        ArchitectureSpec("encoder_decoder", "lstm", attention="dot", **arguments)
    )
    assert count(plain, "attention") == 0
    assert count(attended, "attention") == steps_in * steps_out
    assert count(attended, "hidden") == count(plain, "hidden")


@pytest.mark.parametrize("steps_out", [1, 4])
def test_one_to_many_attention_reads_the_input_at_every_step(steps_out):
    spec = ArchitectureSpec("one_to_many", "gru", attention="additive", steps_out=steps_out)
    assert count(draw_unrolled(spec), "attention") == steps_out


@pytest.mark.parametrize(
    ("pattern", "feedback", "dashed"),
    [
        ("one_to_many", None, True),
        ("encoder_decoder", None, True),
        ("encoder_decoder", "solid", False),
        ("many_to_many", "dashed", True),
        ("one_to_many", "none", None),
    ],
)
def test_feedback_lines(pattern, feedback, dashed):
    spec = ArchitectureSpec(pattern, "rnn", feedback=feedback)
    lines = artists_with_role(draw_unrolled(spec), "feedback")
    assert len(lines) == (0 if dashed is None else spec.steps_out - 1)
    for line in lines:
        assert (line.get_linestyle() != "-") == dashed


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("steps_out", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_many_to_one_heads(pooling, steps_out, bidirectional):
    spec = ArchitectureSpec(
        "many_to_one",
        "lstm",
        pooling=pooling,
        steps_in=5,
        steps_out=steps_out,
        bidirectional=bidirectional,
    )
    figure = draw_unrolled(spec)
    assert count(figure, "output") == steps_out
    pooled = pooling != "last"
    assert count(figure, "pooling") == (6 if pooled else 0)  # the box and one line per step
    # "last" reads the final states: the forward one at step T and, if any, the backward one
    # at step 1.
    assert count(figure, "final_state") == (2 if bidirectional and not pooled else 0)


def box_extents(figure) -> list[tuple[str, tuple[float, float, float, float]]]:
    boxes = []
    for patch in figure.findobj(FancyBboxPatch):
        x, y = patch.get_x(), patch.get_y()
        boxes.append((patch.get_gid(), (x, y, x + patch.get_width(), y + patch.get_height())))
    return boxes


LAYOUT_SPECS = [
    ArchitectureSpec("many_to_one", "lstm", 2, True, pooling="mean", steps_out=3),
    ArchitectureSpec("many_to_many", "gru", 3, True, steps_in=6),
    ArchitectureSpec("one_to_many", "lstm", 2, attention="additive", steps_out=6),
    ArchitectureSpec("encoder_decoder", "lstm", 2, True, attention="general", steps_out=5),
    ArchitectureSpec("encoder_decoder", "my_cell", 1, steps_in=1, steps_out=1),
    ArchitectureSpec("one_to_one", "gru", 4),
]


@pytest.mark.parametrize("spec", LAYOUT_SPECS, ids=lambda spec: describe(spec)[:40])
def test_layout_boxes_do_not_overlap_and_everything_is_inside(spec):
    figure = draw_unrolled(spec)
    boxes = box_extents(figure)
    for (kind_a, a), (kind_b, b) in itertools.combinations(boxes, 2):
        overlap = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
        assert min(overlap) <= 0, f"{kind_a} {a} overlaps {kind_b} {b}"
    axes = figure.axes[0]
    (x0, x1), (y0, y1) = axes.get_xlim(), axes.get_ylim()
    for _, (left, bottom, right, top) in boxes:
        assert x0 <= left and right <= x1 and y0 <= bottom and top <= y1
    figure.canvas.draw()
    frame = figure.bbox
    renderer = figure.canvas.get_renderer()
    for text in figure.findobj(Text):
        if text.get_text():
            extent = text.get_window_extent(renderer)
            assert frame.x0 - 1 <= extent.x0 and extent.x1 <= frame.x1 + 1, text.get_text()
            assert frame.y0 - 1 <= extent.y0 and extent.y1 <= frame.y1 + 1, text.get_text()


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf", ".PNG"])
def test_save_figure_writes_the_format_of_the_extension(tmp_path, suffix):
    path = save_figure(draw_unrolled(ArchitectureSpec("many_to_many")), tmp_path / f"a/b{suffix}")
    head = path.read_bytes()[:400]
    signature = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF"}.get(suffix.lower())
    if signature is None:
        assert b"<svg" in head
    else:
        assert head.startswith(signature)


@pytest.mark.parametrize("output", ["figure.jpg", "figure", "figure.png.txt"])
def test_unknown_output_extension_names_output(tmp_path, output):
    figure = draw_unrolled(ArchitectureSpec("one_to_one"))
    with pytest.raises(ValueError, match=r"^output: .*\.png.*got"):
        save_figure(figure, tmp_path / output)
    assert not list(tmp_path.iterdir())


BAD_SPECS = [
    ({"pattern": "many_to_few"}, "pattern"),
    ({"pattern": "many_to_one", "cell": ""}, "cell"),
    ({"pattern": "many_to_one", "num_layers": 0}, "num_layers"),
    ({"pattern": "many_to_one", "num_layers": True}, "num_layers"),
    ({"pattern": "many_to_one", "bidirectional": "yes"}, "bidirectional"),
    ({"pattern": "many_to_one", "steps_in": 0}, "steps_in"),
    ({"pattern": "many_to_one", "steps_in": 99}, "steps_in"),
    ({"pattern": "one_to_one", "steps_out": 2}, "steps_out"),
    ({"pattern": "one_to_many", "steps_in": 3}, "steps_in"),
    ({"pattern": "many_to_many", "steps_in": 3, "steps_out": 4}, "steps_out"),
    ({"pattern": "many_to_one", "attention": "additive"}, "attention"),
    ({"pattern": "encoder_decoder", "attention": 3}, "attention"),
    ({"pattern": "many_to_many", "pooling": "mean"}, "pooling"),
    ({"pattern": "many_to_one", "pooling": "median"}, "pooling"),
    ({"pattern": "many_to_one", "feedback": "dashed"}, "feedback"),
    ({"pattern": "many_to_one", "decoder_layers": 2}, "decoder_layers"),
    ({"pattern": "encoder_decoder", "decoder_layers": 0}, "decoder_layers"),
    ({"pattern": "many_to_many", "feedback": "dotted"}, "feedback"),
    ({"pattern": "one_to_many", "bidirectional": True}, "bidirectional"),
    ({"pattern": "many_to_many", "feedback": "dashed", "bidirectional": True}, "bidirectional"),
]


@pytest.mark.parametrize(("arguments", "name"), BAD_SPECS)
def test_bad_spec_errors_name_the_argument(arguments, name):
    with pytest.raises(ValueError, match=rf"^{name}: .*got"):
        ArchitectureSpec(**arguments)


def test_bad_arguments_to_the_helpers():
    with pytest.raises(ValueError, match="^spec: "):
        draw_unrolled({"pattern": "many_to_one"})
    with pytest.raises(ValueError, match="^role: "):
        artists_with_role(draw_unrolled(ArchitectureSpec("one_to_one")), "hiddenn")


def test_defaults_per_pattern():
    assert ArchitectureSpec("many_to_many", steps_in=6).steps_out == 6
    assert ArchitectureSpec("one_to_many").steps_in == 1
    assert ArchitectureSpec("encoder_decoder").feedback == "dashed"
    assert ArchitectureSpec("many_to_one").feedback == "none"
    assert "3-layer bidirectional LSTM" in describe(
        ArchitectureSpec("many_to_one", "lstm", 3, True)
    )


def test_drawing_module_imports_no_lightning_or_hydra():
    tree = ast.parse(Path(unrolled.__file__).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        )
    }
    assert imported <= {
        "__future__",
        "collections",
        "dataclasses",
        "pathlib",
        "re",
        "textwrap",
        "matplotlib",
    }, imported
