"""The loop backend's fast path for the standard cells: one autograd node per direction.

:func:`rnnkit.layers.runner.run_direction` hands a direction of an exact
:class:`~rnnkit.cells.RNNCell`, :class:`~rnnkit.cells.LSTMCell` or
:class:`~rnnkit.cells.GRUCell` (not a subclass, which may change the step, nor an instance
whose ``project_input`` or ``step`` was replaced) to :func:`run_standard_direction`. It is
still a Python loop over the time steps, with the input projection of all steps done first
in one matmul (as :meth:`project_input` does) and one gates matmul per step, but the whole
direction is one ``torch.autograd.Function``:

* forward runs without recording anything for autograd. For LSTM and RNN each step adds its
  recurrent matmul in place to its rows of the input projection and activates the gates in
  place there, so the projection buffer ends up holding every step's activations, which is
  what backward needs (GRU keeps its hidden gates apart: ``b_hn`` sits inside the reset
  gate's product). Without grad, small scratch buffers replace the per-step ones;
* backward walks the steps in reverse with the hand-written gate gradients of
  :mod:`rnnkit.cells.pointwise`, one matmul per step for the gradient of the previous state,
  then computes the gradients of the input, ``weight_ih`` and ``weight_hh`` as **one** matmul
  each over all steps, instead of one small matmul and one accumulation per step.

The results equal the generic loop over ``cell.step``
(:func:`rnnkit.layers.time_loop.loop_steps`; same equations, float rounding aside). Double
backward is supported: when backward runs in grad mode (``create_graph=True``) it re-runs the
direction with that loop's ordinary differentiable operations and differentiates that.

Packed layout (see :mod:`rnnkit.layers.runner`): ``batch_sizes[t]`` sequences are alive at
time ``t``, always the first rows. A direction visits the steps in time order or reversed;
between consecutive visits the batch shrinks (sequences finish, forward) or grows
(sequences start from their initial state, reverse).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rnnkit.cells.base import RecurrentCell, State
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.pointwise import (
    gru_backward,
    gru_forward,
    gru_pointwise,
    lstm_backward,
    lstm_forward,
    lstm_pointwise,
    partial_gradients,
)
from rnnkit.cells.rnn import RNNCell
from rnnkit.layers.time_loop import StepFunction, loop_steps

_aten = torch.ops.aten


def has_standard_loop(cell: RecurrentCell) -> bool:
    """Whether :func:`run_standard_direction` computes what ``cell`` computes.

    True for an exact RNNCell, LSTMCell or GRUCell whose ``project_input`` and ``step`` are
    the class's own: not for a subclass, nor for an instance whose methods were replaced
    (instrumentation), since the one-node loop never calls them.
    """
    if type(cell) not in (LSTMCell, GRUCell, RNNCell):
        return False
    return not any(name in vars(cell) for name in ("project_input", "step"))


def standard_loop_allowed(inputs: Tensor) -> bool:
    """Whether the one-node loop may run now: in plain eager autograd only.

    Tracing (``torch.compile``, ``torch.export``), ``torch.func`` transforms (``grad``,
    ``vmap``...) and autocast (which casts operation by operation) each understand the generic
    loop's ordinary operations, not a hand-written backward: there the runner keeps the
    generic loop, as for any cell.
    """
    if torch.compiler.is_compiling() or _functorch_transforms_active():
        return False
    return not torch.is_autocast_enabled(inputs.device.type)


def _functorch_transforms_active() -> bool:
    # torch's own check (used by torch.autograd); no public equivalent exists.
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active is not None and active())


def run_standard_direction(
    cell: RecurrentCell,
    inputs: Tensor,
    batch_sizes: Sequence[int],
    initial_state: State,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """Run a standard cell over packed ``inputs`` in one direction, as one autograd node.

    Computes what :func:`rnnkit.layers.runner.run_direction` computes with ``cell``'s
    ``project_input`` and ``step``.

    Args:
        cell: an exact RNNCell, LSTMCell or GRUCell (see :func:`has_standard_loop`).
        inputs: ``(sum(batch_sizes), H_in)`` packed steps.
        batch_sizes: non-increasing ints, sequences alive at each step.
        initial_state: tuple of ``(batch_sizes[0], s)`` tensors.
        reverse: run from each sequence's last real step back to step 0.

    Returns:
        Packed outputs ``(sum(batch_sizes), H_out)`` and the final state, as
        :func:`rnnkit.layers.runner.run_direction`.
    """
    kind = type(cell)
    if kind not in (LSTMCell, GRUCell, RNNCell):
        raise ValueError(
            f"cell: expected an RNNCell, LSTMCell or GRUCell (exactly), got {type(cell).__name__}"
        )
    weights = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    if kind is LSTMCell:
        function, arguments = _LSTMDirection, (*weights, cell.weight_hr)
    elif kind is GRUCell:
        function, arguments = _GRUDirection, weights
    else:
        function, arguments = _RNNDirection, (*weights, cell.nonlinearity)
    tensors = (inputs, *initial_state, *arguments)
    keep = torch.is_grad_enabled() and any(
        isinstance(t, Tensor) and t.requires_grad for t in tensors
    )
    output, *final = function.apply(*tensors, _Schedule(batch_sizes, reverse, keep))
    return output, tuple(final)


class _Schedule:
    """The order in which one direction visits the packed steps.

    ``sizes[k]`` is the batch size of the ``k``-th visited step; ``steps(packed)`` splits a
    packed ``(sum(batch_sizes), F)`` tensor into per-step row blocks in visiting order.
    ``keep``: whether backward will run, so that forward must keep every step's activations.
    """

    def __init__(self, batch_sizes: Sequence[int], reverse: bool, keep: bool = True) -> None:
        self.batch_sizes = [int(size) for size in batch_sizes]
        self.reverse = reverse
        self.keep = keep
        self.sizes = self.batch_sizes[::-1] if reverse else self.batch_sizes
        self.total = sum(self.batch_sizes)
        following = [*self.sizes[1:], 0]
        self._visits = list(zip(range(len(self.sizes)), self.sizes, following))

    def steps(self, packed: Tensor) -> list[Tensor]:
        blocks = packed.split(self.batch_sizes)
        return list(blocks[::-1] if self.reverse else blocks)

    def buffer(self, like: Tensor, width: int) -> tuple[Tensor | None, list[Tensor]]:
        """Per-step ``(n, width)`` tensors for what backward needs.

        With ``keep``: the row blocks of a new packed ``(total, width)`` buffer, also
        returned. Without: ``(None, views)`` where every view is the same reused
        ``(batch, width)`` scratch, so consecutive steps share memory.
        """
        if self.keep:
            whole = like.new_empty(self.total, width)
            return whole, self.steps(whole)
        return None, self.leading_rows(like.new_empty(self.batch_sizes[0], width))

    def leading_rows(self, tensor: Tensor) -> list[Tensor]:
        """``tensor[:n]`` for the batch size ``n`` of every visit (one view per distinct n)."""
        views = {n: tensor if n == tensor.shape[0] else tensor[:n] for n in set(self.sizes)}
        return [views[n] for n in self.sizes]

    def visits(self) -> list[tuple[int, int, int]]:
        """``(k, n, n_next)``: visit index, its batch size, the next visit's (0 after the last)."""
        return self._visits


def _hand_over(
    state: Tensor,
    next_previous: Tensor | None,
    initial: Tensor,
    final: Tensor,
    n: int,
    n_next: int,
) -> None:
    """Route a step's new state ``(n, s)``: to the next step, or to ``final`` if finished.

    Rows ``< n_next`` continue into the next step's previous state; the next step's rows
    ``n .. n_next`` start from ``initial`` (reverse direction); rows ``n_next .. n`` are
    sequences that just finished (forward direction, or the last visit), whose final state
    this is.
    """
    if n_next == n:
        next_previous.copy_(state)
        return
    if n_next:
        shared = min(n, n_next)
        next_previous[:shared].copy_(state[:shared])
        if n_next > n:
            next_previous[n:].copy_(initial[n:n_next])
    if n_next < n:
        final[n_next:n].copy_(state[n_next:])


def _new(like: Tensor, rows: int, width: int) -> Tensor:
    return like.new_empty(rows, width)


def _writable(grad: Tensor) -> Tensor:
    """A contiguous copy of an incoming gradient, which backward must not modify."""
    return grad.clone(memory_format=torch.contiguous_format)


def _folded_bias(bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor | None:
    """``b_ih + b_hh``, added once in the input projection (LSTM, RNN)."""
    return None if bias_ih is None else bias_ih + bias_hh


def _input_gradients(
    grad_projected: Tensor, inputs: Tensor, weight_ih: Tensor, for_inputs: bool, for_weight: bool
) -> tuple[Tensor | None, Tensor | None]:
    """Gradients of ``inputs`` and ``weight_ih`` through ``inputs @ weight_ih^T``."""
    grad_inputs = grad_projected @ weight_ih if for_inputs else None
    grad_weight_ih = grad_projected.t() @ inputs if for_weight else None
    return grad_inputs, grad_weight_ih


class _LSTMDirection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr, schedule):
        hidden, out_size, total = c0.shape[1], h0.shape[1], schedule.total
        # The input projection, then per step: += h_{t-1} W_hh^T, activated in place.
        activated = torch.nn.functional.linear(inputs, weight_ih, _folded_bias(bias_ih, bias_hh))
        outputs = _new(h0, total, out_size)
        previous_h, h_prev_at = schedule.buffer(h0, out_size)
        previous_c, c_prev_at = schedule.buffer(c0, hidden)
        tanh_c, tanh_c_at = schedule.buffer(c0, hidden)
        if weight_hr is None:  # h_t goes straight into the outputs
            unprojected, unprojected_at = None, schedule.steps(outputs)
        else:
            unprojected, unprojected_at = schedule.buffer(c0, hidden)
        h_n, c_n = torch.empty_like(h0), torch.empty_like(c0)
        gates_at, out_at = schedule.steps(activated), schedule.steps(outputs)
        c_scratch_at = schedule.leading_rows(torch.empty_like(c0))
        weight_t = weight_hh.t().contiguous()
        projection_t = None if weight_hr is None else weight_hr.t().contiguous()
        h_prev_at[0].copy_(h0[: schedule.sizes[0]])
        c_prev_at[0].copy_(c0[: schedule.sizes[0]])
        for k, n, n_next in schedule.visits():
            gates = gates_at[k].addmm_(h_prev_at[k], weight_t)
            c = c_prev_at[k + 1] if n_next == n else c_scratch_at[k]
            lstm_forward(gates, c_prev_at[k], gates, c, tanh_c_at[k], unprojected_at[k])
            if projection_t is not None:
                torch.mm(unprojected_at[k], projection_t, out=out_at[k])
            _hand_over(out_at[k], h_prev_at[k + 1] if n_next else None, h0, h_n, n, n_next)
            if n_next != n:  # otherwise c_t is already in place as the next c_{t-1}
                _hand_over(c, c_prev_at[k + 1] if n_next else None, c0, c_n, n, n_next)
        ctx.schedule = schedule
        ctx.save_for_backward(
            inputs, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr,
            previous_h, previous_c, activated if schedule.keep else None, tanh_c, unprojected,
        )  # fmt: skip
        return outputs, h_n, c_n

    @staticmethod
    def backward(ctx, grad_outputs, grad_h_n, grad_c_n):
        schedule = ctx.schedule
        (inputs, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr,
         previous_h, previous_c, activated, tanh_c, unprojected) = ctx.saved_tensors  # fmt: skip
        if torch.is_grad_enabled():
            inputs = (inputs, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)
            grads = (grad_outputs, grad_h_n, grad_c_n)
            return (*_loop_gradients(_lstm_reference, inputs, 2, grads, schedule), None)

        hidden = c0.shape[1]
        grad_h, grad_c = _writable(grad_h_n), _writable(grad_c_n)
        grad_gates = _new(activated, schedule.total, 4 * hidden)
        grad_hidden = None  # all steps' gradients of h_t, for the projection's weight
        if weight_hr is not None and ctx.needs_input_grad[7]:
            grad_hidden = _new(previous_h, schedule.total, h0.shape[1])
        grad_out_at, grad_gates_at, c_prev_at = (
            schedule.steps(t) for t in (grad_outputs, grad_gates, previous_c)
        )
        activated_at, tanh_c_at = schedule.steps(activated), schedule.steps(tanh_c)
        grad_hidden_at = schedule.steps(grad_hidden) if grad_hidden is not None else None
        grad_h_at, grad_c_at = schedule.leading_rows(grad_h), schedule.leading_rows(grad_c)
        for k, _, _ in reversed(schedule.visits()):
            grad_step = torch.add(
                grad_out_at[k],
                grad_h_at[k],
                out=None if grad_hidden_at is None else grad_hidden_at[k],
            )
            if weight_hr is not None:
                grad_step = grad_step @ weight_hr
            lstm_backward(
                activated_at[k],
                c_prev_at[k],
                tanh_c_at[k],
                grad_step,
                grad_c_at[k],
                grad_gates_at[k],
                grad_c_at[k],
            )
            torch.mm(grad_gates_at[k], weight_hh, out=grad_h_at[k])
        needs = ctx.needs_input_grad
        grad_inputs, grad_weight_ih = _input_gradients(
            grad_gates, inputs, weight_ih, needs[0], needs[3]
        )
        grad_weight_hh = grad_gates.t() @ previous_h if needs[4] else None
        grad_bias = grad_gates.sum(0) if bias_ih is not None and (needs[5] or needs[6]) else None
        grad_weight_hr = grad_hidden.t() @ unprojected if grad_hidden is not None else None
        return (
            grad_inputs, grad_h, grad_c, grad_weight_ih, grad_weight_hh, grad_bias, grad_bias,
            grad_weight_hr, None,
        )  # fmt: skip


class _GRUDirection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, h0, weight_ih, weight_hh, bias_ih, bias_hh, schedule):
        hidden, total = h0.shape[1], schedule.total
        input_gates = torch.nn.functional.linear(inputs, weight_ih, bias_ih)
        outputs, h_n = _new(h0, total, hidden), torch.empty_like(h0)
        previous_h, h_prev_at = schedule.buffer(h0, hidden)
        hidden_gates, hidden_gates_at = schedule.buffer(h0, 3 * hidden)
        rz, rz_at = schedule.buffer(h0, 2 * hidden)
        n_gate, n_gate_at = schedule.buffer(h0, hidden)
        x_at, out_at = schedule.steps(input_gates), schedule.steps(outputs)
        weight_t = weight_hh.t().contiguous()
        h_prev_at[0].copy_(h0[: schedule.sizes[0]])
        for k, n, n_next in schedule.visits():
            if bias_hh is None:
                torch.mm(h_prev_at[k], weight_t, out=hidden_gates_at[k])
            else:
                torch.addmm(bias_hh, h_prev_at[k], weight_t, out=hidden_gates_at[k])
            gru_forward(
                x_at[k], hidden_gates_at[k], h_prev_at[k], rz_at[k], n_gate_at[k], out_at[k]
            )
            _hand_over(out_at[k], h_prev_at[k + 1] if n_next else None, h0, h_n, n, n_next)
        ctx.schedule = schedule
        ctx.save_for_backward(
            inputs, h0, weight_ih, weight_hh, bias_ih, bias_hh, previous_h, hidden_gates, rz,
            n_gate,
        )  # fmt: skip
        return outputs, h_n

    @staticmethod
    def backward(ctx, grad_outputs, grad_h_n):
        schedule = ctx.schedule
        (inputs, h0, weight_ih, weight_hh, bias_ih, bias_hh, previous_h, hidden_gates, rz,
         n_gate) = ctx.saved_tensors  # fmt: skip
        if torch.is_grad_enabled():
            inputs = (inputs, h0, weight_ih, weight_hh, bias_ih, bias_hh)
            grads = (grad_outputs, grad_h_n)
            return (*_loop_gradients(_gru_reference, inputs, 1, grads, schedule), None)

        hidden = h0.shape[1]
        grad_h = _writable(grad_h_n)
        grad_input_gates = _new(rz, schedule.total, 3 * hidden)
        grad_hidden_gates = torch.empty_like(grad_input_gates)
        grad_out_at, grad_input_gates_at, grad_hidden_gates_at = (
            schedule.steps(t) for t in (grad_outputs, grad_input_gates, grad_hidden_gates)
        )
        hidden_gates_at, h_prev_at, rz_at, n_gate_at = (
            schedule.steps(t) for t in (hidden_gates, previous_h, rz, n_gate)
        )
        grad_h_at = schedule.leading_rows(grad_h)
        for k, _, _ in reversed(schedule.visits()):
            grad_step = grad_out_at[k] + grad_h_at[k]
            hidden_n = hidden_gates_at[k][:, 2 * hidden :]
            direct = gru_backward(
                hidden_n,
                h_prev_at[k],
                rz_at[k],
                n_gate_at[k],
                grad_step,
                grad_input_gates_at[k],
                grad_hidden_gates_at[k],
            )
            torch.addmm(direct, grad_hidden_gates_at[k], weight_hh, out=grad_h_at[k])
        needs = ctx.needs_input_grad
        grad_inputs, grad_weight_ih = _input_gradients(
            grad_input_gates, inputs, weight_ih, needs[0], needs[2]
        )
        grad_weight_hh = grad_hidden_gates.t() @ previous_h if needs[3] else None
        grad_bias_ih = grad_input_gates.sum(0) if bias_ih is not None and needs[4] else None
        grad_bias_hh = grad_hidden_gates.sum(0) if bias_hh is not None and needs[5] else None
        return (
            grad_inputs, grad_h, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh, None
        )  # fmt: skip


class _RNNDirection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, schedule):
        # The input projection becomes the outputs: per step += h_{t-1} W_hh^T, activated.
        outputs = torch.nn.functional.linear(inputs, weight_ih, _folded_bias(bias_ih, bias_hh))
        h_n = torch.empty_like(h0)
        previous_h, h_prev_at = schedule.buffer(h0, h0.shape[1])
        out_at = schedule.steps(outputs)
        weight_t = weight_hh.t().contiguous()
        h_prev_at[0].copy_(h0[: schedule.sizes[0]])
        for k, n, n_next in schedule.visits():
            h = out_at[k].addmm_(h_prev_at[k], weight_t)
            if nonlinearity == "tanh":
                h.tanh_()
            else:
                h.relu_()
            _hand_over(h, h_prev_at[k + 1] if n_next else None, h0, h_n, n, n_next)
        ctx.schedule, ctx.nonlinearity = schedule, nonlinearity
        ctx.save_for_backward(
            inputs, h0, weight_ih, weight_hh, bias_ih, bias_hh, previous_h, outputs
        )
        return outputs, h_n

    @staticmethod
    def backward(ctx, grad_outputs, grad_h_n):
        schedule = ctx.schedule
        (inputs, h0, weight_ih, weight_hh, bias_ih, bias_hh, previous_h, outputs) = (
            ctx.saved_tensors
        )
        if torch.is_grad_enabled():
            make_step = functools.partial(_rnn_reference, nonlinearity=ctx.nonlinearity)
            inputs = (inputs, h0, weight_ih, weight_hh, bias_ih, bias_hh)
            grads = (grad_outputs, grad_h_n)
            return (*_loop_gradients(make_step, inputs, 1, grads, schedule), None, None)

        grad_h = _writable(grad_h_n)
        grad_projected = torch.empty_like(outputs)
        grad_out_at, grad_projected_at, out_at = (
            schedule.steps(t) for t in (grad_outputs, grad_projected, outputs)
        )
        tanh = ctx.nonlinearity == "tanh"
        grad_h_at = schedule.leading_rows(grad_h)
        for k, _, _ in reversed(schedule.visits()):
            grad_step = grad_out_at[k] + grad_h_at[k]
            if tanh:
                _aten.tanh_backward.grad_input(
                    grad_step, out_at[k], grad_input=grad_projected_at[k]
                )
            else:
                _aten.threshold_backward.grad_input(
                    grad_step, out_at[k], 0, grad_input=grad_projected_at[k]
                )
            torch.mm(grad_projected_at[k], weight_hh, out=grad_h_at[k])
        needs = ctx.needs_input_grad
        grad_inputs, grad_weight_ih = _input_gradients(
            grad_projected, inputs, weight_ih, needs[0], needs[2]
        )
        grad_weight_hh = grad_projected.t() @ previous_h if needs[3] else None
        grad_bias = (
            grad_projected.sum(0) if bias_ih is not None and (needs[4] or needs[5]) else None
        )
        return (
            grad_inputs, grad_h, grad_weight_ih, grad_weight_hh, grad_bias, grad_bias, None,
            None,
        )  # fmt: skip


# ---- double backward: differentiate the plain formulation -------------------------------


def _lstm_reference(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
    """LSTMCell's ``project_input`` and ``step`` on the given weights."""

    def project(inputs: Tensor) -> Tensor:
        return torch.nn.functional.linear(inputs, weight_ih, _folded_bias(bias_ih, bias_hh))

    def step(x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        h, c = lstm_pointwise(torch.addmm(x_t, h, weight_hh.t()), c)
        if weight_hr is not None:
            h = h @ weight_hr.t()
        return h, (h, c)

    return project, step


def _gru_reference(weight_ih, weight_hh, bias_ih, bias_hh):
    """GRUCell's ``project_input`` and ``step`` on the given weights."""

    def project(inputs: Tensor) -> Tensor:
        return torch.nn.functional.linear(inputs, weight_ih, bias_ih)

    def step(x_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        hidden = h @ weight_hh.t() if bias_hh is None else torch.addmm(bias_hh, h, weight_hh.t())
        h = gru_pointwise(x_t, hidden, h)
        return h, (h,)

    return project, step


def _rnn_reference(weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity: str):
    """RNNCell's ``project_input`` and ``step`` on the given weights."""
    activation = torch.tanh if nonlinearity == "tanh" else torch.relu

    def project(inputs: Tensor) -> Tensor:
        return torch.nn.functional.linear(inputs, weight_ih, _folded_bias(bias_ih, bias_hh))

    def step(x_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        h = activation(torch.addmm(x_t, h, weight_hh.t()))
        return h, (h,)

    return project, step


def _loop_gradients(
    make_reference: Callable[..., tuple[Callable[[Tensor], Tensor], StepFunction]],
    inputs: tuple[Tensor | None, ...],
    state_count: int,
    grads: tuple[Tensor, ...],
    schedule: _Schedule,
) -> tuple[Tensor | None, ...]:
    """Gradients of the generic loop at ``inputs``, as a differentiable graph.

    ``inputs`` are ``(inputs, *initial_state, *weights)`` with ``state_count`` state
    components; ``make_reference(*weights)`` gives the cell's plain ``(project, step)``;
    ``grads`` are the gradients of ``(outputs, *final_state)``.
    """

    def run(inputs: Tensor, *rest: Tensor | None) -> tuple[Tensor, ...]:
        initial, weights = rest[:state_count], rest[state_count:]
        project, step = make_reference(*weights)
        outputs, final = loop_steps(
            step, project(inputs), schedule.batch_sizes, initial, schedule.reverse
        )
        return (outputs, *final)

    return partial_gradients(run, inputs, grads)
