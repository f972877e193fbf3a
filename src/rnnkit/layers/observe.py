"""Watch every time step of the recurrent layers of a model, without touching the runner.

The runner (:func:`rnnkit.layers.runner.run_stack`) only calls ``cell.project_input`` and
``cell.step``, and takes a fast path (torch's fused kernel, or a whole-direction autograd
node for the standard cells) that never materialises the per-step tensors. To see them,
:func:`observe_steps` swaps, for the duration of a ``with`` block, the cells of every
:class:`rnnkit.Recurrent` inside a model for :class:`StepProxy` objects: duck-typed stand-ins
with the same ``project_input``, ``step``, ``state_size`` and ``output_size``, but not
:class:`~rnnkit.cells.RecurrentCell` subclasses, so the runner uses its generic step loop;
their ``step`` calls the real cell and records what it saw::

    records = []
    with observe_steps(model, records.append):
        loss = model(inputs).sum()
    for step in records:                       # ObservedStep
        print(step.name, step.time, step.output.norm())

Records reach the observer when a layer's forward returns, in real time order per
(layer, direction): a reverse direction visits its steps ``L-1 .. 0`` and its records are
re-numbered accordingly (``time`` is always the position in the sequence). With packed or
variable-length input the batch shrinks along time: a record holds only the rows of the
sequences alive at its step (``batch_size`` of them, the first rows of the sorted batch).

Outside the ``with`` block nothing changes: the layer runs its fused kernel again and no
code of this module is on its path (the layer's only hook is :meth:`Recurrent._loop_cells`,
which this module shadows per instance, and ``_fused_kernel``, which it restores).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell, State
from rnnkit.layers.recurrent import Recurrent


@dataclass
class ObservedStep:
    """One step of one cell, as :func:`observe_steps` reports it.

    Attributes:
        module: path of the :class:`rnnkit.Recurrent` inside the observed model (``""`` when
            the layer itself is observed).
        layer: index of the stacked layer, from 0.
        direction: 0 forward, 1 reverse.
        time: position of the step in the sequence, 0-based, in real time order (also for
            the reverse direction, which computes it in the opposite order).
        visit: the order in which the runner computed it within its direction (0 first).
        call: how many forwards of this layer ran before this one inside the ``with`` block
            (a decoder called one step at a time has one step per call).
        projected_input: ``(n, P)`` what the cell's ``step`` received (``project_input``
            of the layer input), ``n`` = sequences alive at this step.
        previous_state: tuple of ``(n, s)``, the state the step started from.
        output: ``(n, H_out)`` the step's output ``h_t``.
        state: tuple of ``(n, s)``, the new state (``(h_t,)`` or ``(h_t, c_t)``).
        cell: the real cell that computed the step.
    """

    module: str
    layer: int
    direction: int
    time: int
    visit: int
    call: int
    projected_input: Tensor
    previous_state: State
    output: Tensor
    state: State
    cell: RecurrentCell

    @property
    def name(self) -> str:
        """``<module>.l<layer>`` (``_reverse`` appended for direction 1), torch.nn's suffixes."""
        suffix = f"l{self.layer}" + ("_reverse" if self.direction else "")
        return f"{self.module}.{suffix}" if self.module else suffix

    @property
    def batch_size(self) -> int:
        """Rows of this step: the sequences alive at ``time``."""
        return self.output.shape[0]


Observer = Callable[[ObservedStep], Any]


class StepProxy:
    """Stands in for one cell while observing: the runner sees a generic cell, steps are kept.

    Same ``project_input`` / ``step`` / ``state_size`` / ``output_size`` / ``initial_state``
    as the wrapped cell; any other attribute is read from it. Steps are buffered until the
    layer's forward returns (:meth:`flush`), when their real time index is known.
    """

    def __init__(self, cell: Any, layer: int, direction: int) -> None:
        self.cell = cell
        self.layer = layer
        self.direction = direction
        self.visits: list[tuple[Tensor, State, Tensor, State]] = []

    @property
    def observed_cell(self) -> RecurrentCell:
        """The real cell, also through nested observations (proxies of proxies)."""
        return getattr(self.cell, "observed_cell", self.cell)

    @property
    def state_size(self) -> tuple[int, ...]:
        return self.cell.state_size

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    def initial_state(self, batch_size: int, **kwargs: Any) -> State:
        return self.cell.initial_state(batch_size, **kwargs)

    def project_input(self, inputs: Tensor) -> Tensor:
        return self.cell.project_input(inputs)

    def step(self, projected_input: Tensor, state: State) -> tuple[Tensor, State]:
        output, new_state = self.cell.step(projected_input, state)
        self.visits.append((projected_input, tuple(state), output, tuple(new_state)))
        return output, new_state

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found above (hidden_size, input_size, weights...).
        if name == "cell":  # not yet set: avoid recursing during construction or copying
            raise AttributeError(name)
        return getattr(self.cell, name)

    def flush(self, module: str, call: int) -> list[ObservedStep]:
        """The buffered steps as records in real time order; empties the buffer."""
        visits, self.visits = self.visits, []
        length = len(visits)
        records = [
            ObservedStep(
                module=module,
                layer=self.layer,
                direction=self.direction,
                time=length - 1 - visit if self.direction else visit,
                visit=visit,
                call=call,
                projected_input=x_t,
                previous_state=previous,
                output=output,
                state=state,
                cell=self.observed_cell,
            )
            for visit, (x_t, previous, output, state) in enumerate(visits)
        ]
        records.sort(key=lambda record: record.time)
        return records


def recurrent_layers(model: nn.Module) -> list[tuple[str, Recurrent]]:
    """Every :class:`rnnkit.Recurrent` inside ``model`` (itself included) with its path."""
    return [(name, layer) for name, layer in model.named_modules() if isinstance(layer, Recurrent)]


@contextlib.contextmanager
def observe_steps(layer_or_model: nn.Module, observer: Observer) -> Iterator[None]:
    """Report every step of every recurrent layer of ``layer_or_model`` to ``observer``.

    Inside the block each :class:`rnnkit.Recurrent` runs the generic step loop through
    :class:`StepProxy` objects (never the fused kernel), and after each of its forwards calls
    ``observer(step)`` once per step with an :class:`ObservedStep`, ordered by layer,
    direction, then time. Everything is restored when the block exits, also on exceptions.

    Args:
        layer_or_model: a :class:`rnnkit.Recurrent`, or any module containing some.
        observer: called with each :class:`ObservedStep`; may register tensor hooks on
            ``step.output`` (``register_hook`` gives the total gradient ``dL/dh_t``).

    Raises:
        ValueError: if ``layer_or_model`` is not a module or holds no rnnkit.Recurrent.
    """
    if not isinstance(layer_or_model, nn.Module):
        raise ValueError(
            f"layer_or_model: expected an nn.Module containing rnnkit.Recurrent layers, got "
            f"{type(layer_or_model).__name__}"
        )
    if not callable(observer):
        raise ValueError(f"observer: expected a callable, got {type(observer).__name__}")
    layers = recurrent_layers(layer_or_model)
    if not layers:
        raise ValueError(
            f"layer_or_model: expected a module containing at least one rnnkit.Recurrent, "
            f"got {type(layer_or_model).__name__} with none"
        )
    with contextlib.ExitStack() as stack:
        for name, layer in layers:
            stack.enter_context(_observing(layer, name, observer))
        yield


@contextlib.contextmanager
def _observing(layer: Recurrent, name: str, observer: Observer) -> Iterator[None]:
    grid = [
        [StepProxy(cell, index, direction) for direction, cell in enumerate(directions)]
        for index, directions in enumerate(layer._loop_cells())
    ]
    calls = [0]

    def start(module: nn.Module, args: Any) -> None:
        for directions in grid:
            for proxy in directions:
                proxy.visits.clear()  # leftovers of a forward that raised

    def finish(module: nn.Module, args: Any, output: Any) -> None:
        call, calls[0] = calls[0], calls[0] + 1
        for directions in grid:
            for proxy in directions:
                for record in proxy.flush(name, call):
                    observer(record)

    shadowed = layer.__dict__.get("_loop_cells")  # an outer observation's proxies, if any
    fused_kernel = layer._fused_kernel
    handles = [layer.register_forward_pre_hook(start), layer.register_forward_hook(finish)]
    layer.__dict__["_loop_cells"] = lambda: grid
    layer._fused_kernel = None
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        layer._fused_kernel = fused_kernel
        if shadowed is None:
            del layer.__dict__["_loop_cells"]
        else:
            layer.__dict__["_loop_cells"] = shadowed
