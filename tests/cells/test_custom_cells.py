"""The two custom cells, against plain references written here, and through `Recurrent`.

Each reference is a different code path: one sequence at a time, one unbatched vector per
step, its own layer norm, a Python loop over layers, directions and steps. The cells define a
single step and nothing else; stacking, both directions, packing, unsorted lengths and
batch-first all come from `rnnkit.Recurrent`, and must match the reference in float64.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit.cells import layer_norm_lstm, peephole_lstm
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell

INPUT_SIZE, HIDDEN_SIZE, STEPS = 4, 5, 5
LENGTHS = (3, 5, 1, 4)  # unsorted, with a length-1 sequence
BATCH = len(LENGTHS)
TOLERANCE = 1e-10
EPS = 1e-5  # nn.LayerNorm's default, used by LayerNormLSTMCell

DOCS = Path(__file__).resolve().parents[2] / "docs" / "custom_cells.md"


# ---- the plain references ------------------------------------------------------------------


def reference_layer_norm(v: Tensor, gain: Tensor, shift: Tensor | None) -> Tensor:
    centred = v - v.mean()
    normalised = centred / torch.sqrt((centred * centred).mean() + EPS)
    return normalised * gain + (0 if shift is None else shift)


def layer_norm_lstm_step(p: dict, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Ba et al. (2016), eqs. 20-22, for one unbatched step."""
    gates = reference_layer_norm(p["weight_ih"] @ x, p["ln_ih_gain"], p["ln_ih_shift"])
    gates = gates + reference_layer_norm(p["weight_hh"] @ h, p["ln_hh_gain"], None)
    H = h.shape[0]
    i, f, g, o = gates[:H], gates[H : 2 * H], gates[2 * H : 3 * H], gates[3 * H :]
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(reference_layer_norm(c, p["ln_c_gain"], p["ln_c_shift"]))
    return h, c


def peephole_lstm_step(p: dict, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Gers & Schmidhuber (2000), for one unbatched step."""
    gates = p["weight_ih"] @ x + p["weight_hh"] @ h
    if p["bias_ih"] is not None:
        gates = gates + p["bias_ih"] + p["bias_hh"]
    H = h.shape[0]
    i = torch.sigmoid(gates[:H] + p["weight_ci"] * c)
    f = torch.sigmoid(gates[H : 2 * H] + p["weight_cf"] * c)
    c_new = f * c + i * torch.tanh(gates[2 * H : 3 * H])
    o = torch.sigmoid(gates[3 * H :] + p["weight_co"] * c_new)
    return o * torch.tanh(c_new), c_new


def layer_norm_parameters(layer: rnnkit.Recurrent, suffix: str) -> dict:
    cell = layer.cells[suffix]
    return {
        "weight_ih": getattr(layer, f"weight_ih_{suffix}"),
        "weight_hh": getattr(layer, f"weight_hh_{suffix}"),
        "ln_ih_gain": cell.layer_norm_ih.weight,
        "ln_ih_shift": cell.layer_norm_ih.bias,
        "ln_hh_gain": cell.layer_norm_hh.weight,
        "ln_c_gain": cell.layer_norm_cell.weight,
        "ln_c_shift": cell.layer_norm_cell.bias,
    }


def peephole_parameters(layer: rnnkit.Recurrent, suffix: str) -> dict:
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ci", "weight_cf", "weight_co")
    return {name: getattr(layer, f"{name}_{suffix}", None) for name in names}


CELLS = {
    "layer_norm_lstm": (LayerNormLSTMCell, layer_norm_lstm_step, layer_norm_parameters),
    "peephole_lstm": (PeepholeLSTMCell, peephole_lstm_step, peephole_parameters),
}


def reference_layer(
    cell_name: str, layer: rnnkit.Recurrent, x: Tensor, h0: Tensor, c0: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Sequence by sequence, layer by layer, direction by direction, step by step.

    x: ``(N, L, H_in)`` padded; h0, c0: ``(D * num_layers, N, H)``. Returns the padded
    output ``(N, L, D * H)`` (zeros past each length) and ``h_n``, ``c_n``.
    """
    _, step, parameters_of = CELLS[cell_name]
    directions = 2 if layer.bidirectional else 1
    outputs, h_n, c_n = [], [[None] * BATCH for _ in h0], [[None] * BATCH for _ in c0]
    for n, length in enumerate(LENGTHS):
        sequence = list(x[n, :length])
        for k in range(layer.num_layers):
            per_direction = []
            for d in range(directions):
                p = parameters_of(layer, f"l{k}" + ("_reverse" if d else ""))
                h, c = h0[k * directions + d, n], c0[k * directions + d, n]
                order = range(length - 1, -1, -1) if d else range(length)
                produced = [None] * length
                for t in order:
                    h, c = step(p, sequence[t], h, c)
                    produced[t] = h
                per_direction.append(produced)
                h_n[k * directions + d][n], c_n[k * directions + d][n] = h, c
            sequence = [torch.cat(parts) for parts in zip(*per_direction)]
        padding = [torch.zeros_like(sequence[0])] * (STEPS - length)
        outputs.append(torch.stack(sequence + padding))
    return (
        torch.stack(outputs),
        torch.stack([torch.stack(row) for row in h_n]),
        torch.stack([torch.stack(row) for row in c_n]),
    )


# ---- helpers -------------------------------------------------------------------------------


def build(cell_name: str, bias: bool = True, **options) -> rnnkit.Recurrent:
    """``Recurrent(Cell, ...)`` in float64 with every parameter random (norms included)."""
    layer = rnnkit.Recurrent(CELLS[cell_name][0], INPUT_SIZE, HIDDEN_SIZE, bias=bias, **options)
    layer.double()
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                parameter.uniform_(0.5, 1.5)  # gains
            elif "layer_norm" in name:
                parameter.normal_(0, 0.3)  # shifts
    return layer


def probe(tensor: Tensor, salt: int) -> Tensor:
    index = torch.arange(tensor.numel(), dtype=tensor.dtype).reshape(tensor.shape)
    return torch.cos(0.7 * index + salt)


def loss_of(output: Tensor, h_n: Tensor, c_n: Tensor) -> Tensor:
    return (
        (output * probe(output, 0)).sum()
        + (h_n * probe(h_n, 1)).sum()
        + (c_n * probe(c_n, 2)).sum()
    )


# ---- the cells through Recurrent -----------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("input_kind", ["packed", "lengths"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["1layer", "2layers"])
@pytest.mark.parametrize("cell_name", CELLS)
def test_recurrent_matches_reference(
    cell_name, num_layers, bidirectional, batch_first, input_kind, bias
):
    layer = build(
        cell_name,
        bias,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
    )
    assert not layer.uses_fused_kernel
    directions = 2 if bidirectional else 1
    x = torch.randn(BATCH, STEPS, INPUT_SIZE, dtype=torch.float64)  # (N, L, H_in)
    for n, length in enumerate(LENGTHS):
        x[n, length:] = 0
    h0 = torch.randn(directions * num_layers, BATCH, HIDDEN_SIZE, dtype=torch.float64)
    c0 = torch.randn_like(h0)
    leaves = [t.clone().requires_grad_() for t in (x, h0, c0)]
    parameters = list(layer.parameters())

    expected = reference_layer(cell_name, layer, *leaves)
    expected_grads = torch.autograd.grad(loss_of(*expected), leaves + parameters)

    leaves = [t.clone().requires_grad_() for t in (x, h0, c0)]
    feed = leaves[0] if batch_first else leaves[0].transpose(0, 1)
    if input_kind == "packed":
        packed = pack_padded_sequence(
            feed, torch.tensor(LENGTHS), batch_first=batch_first, enforce_sorted=False
        )
        packed_output, (h_n, c_n) = layer(packed, (leaves[1], leaves[2]))
        output, _ = pad_packed_sequence(packed_output, batch_first=batch_first, total_length=STEPS)
    else:
        output, (h_n, c_n) = layer(feed, (leaves[1], leaves[2]), lengths=torch.tensor(LENGTHS))
    output = output if batch_first else output.transpose(0, 1)
    grads = torch.autograd.grad(loss_of(output, h_n, c_n), leaves + parameters)

    for actual, wanted in zip((output, h_n, c_n), expected, strict=True):
        torch.testing.assert_close(actual, wanted, atol=TOLERANCE, rtol=TOLERANCE)
    names = ["input", "h0", "c0"] + [name for name, _ in layer.named_parameters()]
    for name, actual, wanted in zip(names, grads, expected_grads, strict=True):
        torch.testing.assert_close(
            actual, wanted, atol=TOLERANCE, rtol=TOLERANCE, msg=lambda m, n=name: f"{n}: {m}"
        )


@pytest.mark.parametrize("cell_name", CELLS)
def test_single_step_with_zero_default_state(cell_name):
    layer = build(cell_name)
    cell = layer.cells["l0"]
    assert cell.state_size == (HIDDEN_SIZE, HIDDEN_SIZE) and cell.output_size == HIDDEN_SIZE
    x = torch.randn(BATCH, INPUT_SIZE, dtype=torch.float64)
    output, (h, c) = cell(x)
    _, step, parameters_of = CELLS[cell_name]
    zero = torch.zeros(HIDDEN_SIZE, dtype=torch.float64)
    for n in range(BATCH):
        expected_h, expected_c = step(parameters_of(layer, "l0"), x[n], zero, zero)
        torch.testing.assert_close(output[n], expected_h, atol=TOLERANCE, rtol=TOLERANCE)
        torch.testing.assert_close(h[n], expected_h, atol=TOLERANCE, rtol=TOLERANCE)
        torch.testing.assert_close(c[n], expected_c, atol=TOLERANCE, rtol=TOLERANCE)


@pytest.mark.parametrize("cell_name", CELLS)
def test_unbatched_and_dropout_come_from_recurrent(cell_name):
    layer = build(cell_name, num_layers=2, dropout=0.5)
    x = torch.randn(STEPS, INPUT_SIZE, dtype=torch.float64)
    layer.eval()
    output, (h_n, c_n) = layer(x)
    batched, (h_b, c_b) = layer(x[:, None])
    assert output.shape == (STEPS, HIDDEN_SIZE) and h_n.shape == (2, HIDDEN_SIZE)
    torch.testing.assert_close(output, batched[:, 0], atol=TOLERANCE, rtol=TOLERANCE)
    torch.testing.assert_close(c_n, c_b[:, 0], atol=TOLERANCE, rtol=TOLERANCE)
    layer.train()
    assert not torch.allclose(layer(x)[0], output), "dropout between layers had no effect"


# ---- "with no other code" ------------------------------------------------------------------

STEP_ONLY = {"__init__", "state_size", "project_input", "step", "forward"}
LAYER_WORDS = r"PackedSequence|batch_first|bidirectional|reverse|lengths|num_layers|dropout"


@pytest.mark.parametrize("module", [layer_norm_lstm, peephole_lstm], ids=["layer_norm", "peephole"])
def test_cells_define_one_step_and_nothing_else(module):
    (cell,) = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, rnnkit.RecurrentCell)
        and obj.__module__ == module.__name__
    ]
    defined = {
        name for name, value in vars(cell).items() if callable(value) or isinstance(value, property)
    }
    assert defined <= STEP_ONLY, f"{cell.__name__} defines {sorted(defined - STEP_ONLY)}"
    code = re.sub(r'"""(.|\n)*?"""', "", inspect.getsource(module))
    assert not re.search(LAYER_WORDS, code), "a cell must not know about sequences or layers"
    assert rnnkit.RecurrentCell in cell.__mro__ and rnnkit.LSTMCell not in cell.__mro__


@pytest.mark.parametrize("cell_name", CELLS)
def test_custom_cells_always_run_the_loop(cell_name):
    cell = CELLS[cell_name][0]
    assert not rnnkit.Recurrent(cell, INPUT_SIZE, HIDDEN_SIZE, backend="auto").uses_fused_kernel
    with pytest.raises(ValueError, match="backend"):
        rnnkit.Recurrent(cell, INPUT_SIZE, HIDDEN_SIZE, backend="fused")


def expected_names(own: list[str], nested: list[str], bidirectional: bool) -> list[str]:
    suffixes = ["l0", "l0_reverse", "l1", "l1_reverse"] if bidirectional else ["l0", "l1"]
    return [f"{name}_{s}" for s in suffixes for name in own] + [
        f"cells.{s}.{path}" for s in suffixes for path in nested
    ]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_parameter_names(bias):
    peephole = rnnkit.Recurrent(PeepholeLSTMCell, 4, 6, num_layers=2, bidirectional=True, bias=bias)
    own = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    own += ["weight_ci", "weight_cf", "weight_co"]
    assert [n for n, _ in peephole.named_parameters()] == expected_names(own, [], True)
    assert peephole.weight_ci_l1_reverse.shape == (6,)

    norm = rnnkit.Recurrent(LayerNormLSTMCell, 4, 6, num_layers=2, bias=bias)
    nested = ["layer_norm_ih.weight"] + (["layer_norm_ih.bias"] if bias else [])
    nested += ["layer_norm_hh.weight", "layer_norm_cell.weight"]
    nested += ["layer_norm_cell.bias"] if bias else []
    assert [n for n, _ in norm.named_parameters()] == expected_names(
        ["weight_ih", "weight_hh"], nested, False
    )
    assert list(norm.state_dict()) == [n for n, _ in norm.named_parameters()]


@pytest.mark.parametrize("cell_name", CELLS)
def test_initialisation(cell_name):
    cell = CELLS[cell_name][0](INPUT_SIZE, 16)
    bound = 16**-0.5
    for name, parameter in cell.named_parameters():
        if "layer_norm" in name:  # nn.LayerNorm's own: gain 1, shift 0
            assert torch.all(parameter == (1.0 if name.endswith("weight") else 0.0)), name
        else:
            assert parameter.abs().max() <= bound and parameter.std() > bound / 3, name


# ---- the guide -------------------------------------------------------------------------------


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.skipif(not DOCS.exists(), reason="docs/ not present (installed package)")
@pytest.mark.parametrize("module", [layer_norm_lstm, peephole_lstm], ids=["layer_norm", "peephole"])
def test_guide_shows_the_cells_code_verbatim(module):
    source = Path(module.__file__).read_text()
    assert source in python_blocks(DOCS.read_text()), (
        f"docs/custom_cells.md must hold {Path(module.__file__).name} verbatim"
    )
    assert f"src/rnnkit/cells/{Path(module.__file__).name}" in DOCS.read_text()


@pytest.mark.skipif(not DOCS.exists(), reason="docs/ not present (installed package)")
def test_guide_snippets_run():
    namespace: dict = {"__name__": "custom_cells_guide"}
    for block in python_blocks(DOCS.read_text()):
        if block.lstrip().startswith('"""'):  # the cells' files, already imported as modules
            continue
        exec(compile(block, str(DOCS), "exec"), namespace)  # noqa: S102
