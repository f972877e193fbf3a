"""`Recurrent`: any cell, made a torch.nn-style multi-layer, bidirectional sequence layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.validation import (
    check_input_rank,
    check_layer_arguments,
    check_layer_input,
    check_sequence_length,
    check_state_ranks,
    check_state_shapes,
    refuse_torchscript,
)
from rnnkit.layers.flat_weights import flatten_weights
from rnnkit.layers.fused import fused_kernel_name, run_fused
from rnnkit.layers.locked_dropout import run_variational_stack
from rnnkit.layers.masked import run_masked_stack
from rnnkit.layers.precision import autocast_dtype
from rnnkit.layers.runner import run_stack
from rnnkit.layers.weight_drop import add_weight_drop

BACKENDS = ("auto", "fused", "loop")
CellFactory = Callable[..., RecurrentCell]


class Recurrent(nn.Module):
    """Stacked, optionally bidirectional recurrent layer over any :class:`RecurrentCell`.

    ``cell`` is called as ``cell(input_size, hidden_size, **cell_kwargs)`` once per layer and
    direction (a cell class or a ``functools.partial``); layer ``k > 0`` reads
    ``D * output_size`` features, ``D = 2`` if ``bidirectional`` else 1.

    Parameters are torch.nn's: each cell's own parameters are registered on this layer as
    ``<name>_l<k>`` and ``<name>_l<k>_reverse`` (``weight_ih_l0``, ``bias_hh_l1_reverse``...),
    so a ``torch.nn.LSTM`` state_dict loads into :class:`rnnkit.LSTM` and back. Parameters of
    modules nested inside a cell keep their path (``cells.l0.layer_norm.weight``).

    Inputs (as torch.nn.RNN):
        input: ``(L, N, H_in)``, ``(N, L, H_in)`` if ``batch_first``, unbatched ``(L, H_in)``,
            or a :class:`PackedSequence`.
        hx: initial state, ``(D * num_layers, N, s)`` (``(D * num_layers, s)`` unbatched) for
            each state component: a tensor for one-component states (RNN, GRU), a tuple
            otherwise (``(h_0, c_0)`` for LSTM). Zeros when omitted.
        lengths: optional, rnnkit only: lengths ``(N,)`` of a padded batch. Steps past a
            sequence's length are never computed; their outputs are zero.

    Outputs:
        output: ``(L, N, D * H_out)`` (batch-first or unbatched to match the input), or a
            PackedSequence for a PackedSequence input.
        h_n: final state in the layout of ``hx``.

    Backends: ``"loop"`` runs :func:`rnnkit.layers.runner.run_stack`, the Python time loop
    that works for every cell. ``"fused"`` runs torch's fused kernel and requires standard
    cells. ``"auto"`` (default) takes the fused kernel whenever every cell is exactly
    :class:`~rnnkit.cells.RNNCell`, :class:`~rnnkit.cells.LSTMCell` or
    :class:`~rnnkit.cells.GRUCell`, and the loop otherwise. See :attr:`uses_fused_kernel`.

    Regularisation (rnnkit only, docs/regularisation.md): ``weight_dropout=p`` drops the
    recurrent weights ``weight_hh`` with one mask per forward pass (DropConnect,
    :mod:`rnnkit.layers.weight_drop`), still on the fused kernel; ``variational_dropout=True``
    makes ``dropout`` between layers one mask per sequence shared over time
    (:mod:`rnnkit.layers.locked_dropout`), running the layers one by one.

    Under ``torch.compile`` the fused kernel runs eagerly between compiled graphs; while
    tracing (compile, ``torch.export``), ``lengths=`` runs every step of the padded batch with
    masks (:mod:`rnnkit.layers.masked`), so shapes never depend on the lengths' values. Under
    autocast the layer runs in the autocast dtype (:mod:`rnnkit.layers.precision`).
    """

    def __init__(
        self,
        cell: CellFactory,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        backend: str = "auto",
        weight_dropout: float = 0.0,
        variational_dropout: bool = False,
        **cell_kwargs: Any,
    ) -> None:
        super().__init__()
        check_layer_arguments(
            input_size, hidden_size, num_layers, batch_first, dropout, cell_kwargs
        )
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.backend = backend
        self.num_directions = 2 if bidirectional else 1

        self.cells = nn.ModuleDict()
        self._adopted: list[tuple[RecurrentCell, str, str]] = []
        self._adopted_by_name: dict[str, tuple[RecurrentCell, str]] = {}
        layer_input_size = input_size
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                suffix = f"l{layer}" + ("_reverse" if direction else "")
                built = cell(layer_input_size, hidden_size, **cell_kwargs)
                if not isinstance(built, RecurrentCell):
                    raise ValueError(
                        f"cell: expected a factory of rnnkit.cells.RecurrentCell, got "
                        f"{type(built).__name__}"
                    )
                self.cells[suffix] = built
                self._adopt_parameters(built, suffix)
            layer_input_size = self.num_directions * built.output_size
        self.register_load_state_dict_post_hook(_rebind_after_load)
        first = self.cells["l0"]
        self.state_size = first.state_size
        self.output_size = first.output_size
        self._fused_kernel = fused_kernel_name(list(self.cells.values()))
        if backend == "fused" and self._fused_kernel is None:
            raise ValueError(
                f"backend='fused' needs RNNCell, LSTMCell or GRUCell cells, got "
                f"{type(first).__name__}; use backend='loop' or 'auto'"
            )
        self.variational_dropout = bool(variational_dropout)
        if weight_dropout:
            add_weight_drop(self, weight_dropout)
        self.weight_dropout = float(weight_dropout or 0.0)
        self.flatten_parameters()

    def _adopt_parameters(self, cell: RecurrentCell, suffix: str) -> None:
        """Register the cell's own parameters on the layer under torch.nn's names.

        The cell keeps reading ``self.weight_ih`` as before: :meth:`_bind_cell_parameters`
        points that attribute at whatever the layer holds, so moving, casting, reloading with
        ``assign=True`` or replacing a weight on the layer (weight drop) reaches the cell.
        """
        for name, parameter in list(cell._parameters.items()):
            if parameter is None:
                continue
            del cell._parameters[name]
            layer_name = f"{name}_{suffix}"
            self.register_parameter(layer_name, parameter)
            cell.__dict__[name] = parameter
            self._adopted.append((cell, name, layer_name))
            self._adopted_by_name[layer_name] = (cell, name)

    def _bind_cell_parameters(self) -> None:
        for cell, name, layer_name in self._adopted:
            cell.__dict__[name] = getattr(self, layer_name)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        adopted = self.__dict__.get("_adopted_by_name")
        if adopted and name in adopted:
            cell, cell_name = adopted[name]
            cell.__dict__[cell_name] = value

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001 - torch's signature
        result = super()._apply(fn, recurse)
        self._bind_cell_parameters()
        self.flatten_parameters()
        return result

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.flatten_parameters()

    @property
    def uses_fused_kernel(self) -> bool:
        """Whether forward runs torch's fused kernel (see the class docstring)."""
        return self._fused_kernel is not None and self.backend != "loop"

    @property
    def _variational_between_layers(self) -> bool:
        return self.variational_dropout and self.training and self.dropout > 0

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, layer_name) for _, _, layer_name in self._adopted]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Parameters grouped per layer and direction, as torch.nn.RNN.all_weights."""
        groups: dict[int, list[Tensor]] = {}
        for cell, _, layer_name in self._adopted:
            groups.setdefault(id(cell), []).append(getattr(self, layer_name))
        return list(groups.values())

    def flatten_parameters(self) -> None:
        """Lay the fused kernel's parameters out in one buffer (:mod:`rnnkit.layers.flat_weights`).

        Done after construction, ``.to()``, ``load_state_dict`` and unpickling, so cuDNN
        neither warns nor compacts the weights on each call; call it again after replacing a
        parameter by hand. Parameter names and objects are unchanged. A no-op for cells
        without a fused kernel.
        """
        if self._fused_kernel is None:
            return
        flatten_weights(
            self._flat_weights,
            self._fused_kernel,
            self.input_size,
            self.hidden_size,
            getattr(self.cells["l0"], "proj_size", 0),
            self.num_layers,
            self.bidirectional,
            self.cells["l0"].bias_ih is not None,
        )

    def forward(
        self,
        input: Tensor | PackedSequence,  # noqa: A002
        hx: Tensor | tuple[Tensor, ...] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, ...]]:
        if not torch.compiler.is_exporting():
            return self._forward(input, hx, lengths)
        # torch.export traces with stand-ins for the parameters: the cells read them during
        # the trace and get their own parameters back afterwards.
        bound = [(cell, name, cell.__dict__[name]) for cell, name, _ in self._adopted]
        try:
            return self._forward(input, hx, lengths)
        finally:
            for cell, name, parameter in bound:
                cell.__dict__[name] = parameter

    def _forward(
        self,
        input: Tensor | PackedSequence,  # noqa: A002
        hx: Tensor | tuple[Tensor, ...] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, ...]]:
        self._bind_cell_parameters()
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths: must be None for a PackedSequence input")
            return self._forward_packed(input, hx)
        if not isinstance(input, Tensor):
            raise ValueError(
                f"input: expected a Tensor or PackedSequence, got {type(input).__name__}"
            )
        check_input_rank(type(self).__name__, input, len(self.state_size))
        compute_dtype = autocast_dtype(input)
        if compute_dtype is not None:
            input = input.to(compute_dtype)  # noqa: A001
        if input.dim() == 2:
            if lengths is not None:
                raise ValueError("lengths: not supported for an unbatched (L, H_in) input")
            state = self._unbatched_state(hx)
            batch_dim = 0 if self.batch_first else 1
            output, final = self.forward(input.unsqueeze(batch_dim), state)
            return output.squeeze(batch_dim), _map_state(final, lambda s: s.squeeze(1))
        if hx is not None:
            check_state_ranks(self._as_components(hx), batched=True)
        if lengths is not None:
            return self._forward_with_lengths(input, hx, lengths)
        check_layer_input(input, self.input_size, self._weight_dtype, packed=False)
        time_major = input.transpose(0, 1) if self.batch_first else input
        steps, batch = time_major.shape[:2]
        check_sequence_length(steps)
        if batch == 0 and not self.uses_fused_kernel:
            raise ValueError(
                f"input: expected at least one sequence, got a batch of 0 (shape "
                f"{tuple(input.shape)}); rnnkit's time loop (backend='loop' or a custom cell) "
                "needs one; skip empty batches before the layer"
            )
        initial = self._initial_state(hx, batch, input)
        if self.uses_fused_kernel:
            output, final = self._run_fused(time_major, None, initial)
        else:
            data = time_major.reshape(steps * batch, -1)
            output, final = self._run_loop(data, [batch] * steps, initial)
            output = output.view(steps, batch, -1)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, self._format_state(final)

    def _forward_packed(
        self, packed: PackedSequence, hx: Tensor | tuple[Tensor, ...] | None
    ) -> tuple[PackedSequence, Tensor | tuple[Tensor, ...]]:
        check_layer_input(packed.data, self.input_size, self._weight_dtype, packed=True)
        compute_dtype = autocast_dtype(packed.data)
        if compute_dtype is not None and packed.data.dtype != compute_dtype:
            packed = PackedSequence(
                packed.data.to(compute_dtype),
                packed.batch_sizes,
                packed.sorted_indices,
                packed.unsorted_indices,
            )
        batch = int(packed.batch_sizes[0])
        initial = self._initial_state(hx, batch, packed.data)
        if packed.sorted_indices is not None:
            initial = tuple(s.index_select(1, packed.sorted_indices) for s in initial)
        if self.uses_fused_kernel:
            data, final = self._run_fused(packed.data, packed.batch_sizes, initial)
        else:
            data, final = self._run_loop(packed.data, packed.batch_sizes.tolist(), initial)
        if packed.unsorted_indices is not None:
            final = tuple(s.index_select(1, packed.unsorted_indices) for s in final)
        output = PackedSequence(
            data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )
        return output, self._format_state(final)

    def _forward_with_lengths(
        self,
        input: Tensor,
        hx: Tensor | tuple[Tensor, ...] | None,
        lengths: Tensor,  # noqa: A002
    ) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
        steps, batch = (input.shape[1], input.shape[0]) if self.batch_first else input.shape[:2]
        lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.numel() != batch:
            raise ValueError(
                f"lengths: expected shape ({batch},), one length per sequence, got "
                f"{tuple(lengths.shape)}"
            )
        if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
            raise ValueError(f"lengths: expected an integer tensor, got {lengths.dtype}")
        if batch == 0:
            raise ValueError(
                f"input: expected at least one sequence, got a batch of 0 (shape "
                f"{tuple(input.shape)}) with lengths; skip empty batches before the layer"
            )
        if torch.compiler.is_compiling():
            # Values cannot be read back while tracing: no check, and static shapes.
            if self.uses_fused_kernel and _compiling_not_exporting():
                return _outside_graph(self._forward_packed_padded, input, hx, lengths)
            return self._forward_masked(input, hx, lengths)
        if int(lengths.min()) < 1 or int(lengths.max()) > steps:
            raise ValueError(
                f"lengths: expected values in [1, {steps}] (the padded length), got min "
                f"{int(lengths.min())} and max {int(lengths.max())}"
            )
        return self._forward_packed_padded(input, hx, lengths)

    def _forward_packed_padded(
        self,
        input: Tensor,  # noqa: A002
        hx: Tensor | tuple[Tensor, ...] | None,
        lengths: Tensor,
    ) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
        """Pack, run (packed: padded steps never computed), pad back."""
        steps = input.shape[1] if self.batch_first else input.shape[0]
        packed = pack_padded_sequence(
            input, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False
        )
        packed_output, final = self._forward_packed(packed, hx)
        output, _ = pad_packed_sequence(
            packed_output, batch_first=self.batch_first, total_length=steps
        )
        return output, final

    def _forward_masked(
        self,
        input: Tensor,  # noqa: A002
        hx: Tensor | tuple[Tensor, ...] | None,
        lengths: Tensor,
    ) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
        """Every step of the padded batch, with masks (:mod:`rnnkit.layers.masked`)."""
        time_major = input.transpose(0, 1) if self.batch_first else input
        initial = self._initial_state(hx, time_major.shape[1], input)
        output, finals = run_masked_stack(
            self._loop_cells(),
            time_major,
            lengths,
            self._per_layer_states(initial),
            self.dropout,
            self.training,
        )
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, self._format_state(_stack_states(finals))

    def _run_loop(
        self, data: Tensor, batch_sizes: list[int], initial: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self._variational_between_layers:
            return run_variational_stack(self, data, batch_sizes, initial, fused=False)
        states = self._per_layer_states(initial)
        output, finals = run_stack(
            self._loop_cells(), data, batch_sizes, states, self.dropout, self.training
        )
        return output, _stack_states(finals)

    def _per_layer_states(self, initial: tuple[Tensor, ...]) -> list[tuple[Tensor, ...]]:
        """``(D * num_layers, N, s)`` components -> one ``(N, s)`` tuple per layer and
        direction."""
        return [
            tuple(component[k] for component in initial)
            for k in range(self.num_layers * self.num_directions)
        ]

    def _loop_cells(self) -> list[list[RecurrentCell]]:
        """``cells[layer][direction]`` as the loop backend runs them.

        :func:`rnnkit.layers.observe.observe_steps` shadows this method on an instance (and
        sets ``_fused_kernel`` to None) for the duration of an observation, to run step
        proxies instead; nothing is checked here otherwise.
        """
        return [
            [
                self.cells[f"l{layer}" + ("_reverse" if d else "")]
                for d in range(self.num_directions)
            ]
            for layer in range(self.num_layers)
        ]

    def _run_fused(
        self, data: Tensor, batch_sizes: Tensor | None, initial: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self._variational_between_layers:
            return run_variational_stack(self, data, batch_sizes, initial, fused=True)
        arguments = (
            self._fused_kernel,
            data,
            batch_sizes,
            initial,
            self._flat_weights,
            self.cells["l0"].bias_ih is not None,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
        )
        if _compiling_not_exporting():
            # Inductor cannot lower the fused CPU kernel (mkldnn_rnn_layer): the kernel runs
            # eagerly between two compiled graphs, as torch.nn.LSTM does under torch.compile.
            return _outside_graph(run_fused, *arguments)
        return run_fused(*arguments)

    # ---- input checks and state layout -------------------------------------------------

    @property
    def _weight_dtype(self) -> torch.dtype | None:
        """dtype the input must have (torch.nn's check): the first parameter's, if any."""
        if self._adopted:
            return getattr(self, self._adopted[0][2]).dtype
        first = next(self.parameters(), None)
        return None if first is None else first.dtype

    def _state_shapes(self, batch: int | None) -> list[tuple[int, ...]]:
        layers = self.num_directions * self.num_layers
        return [
            (layers, size) if batch is None else (layers, batch, size) for size in self.state_size
        ]

    def _as_components(self, hx: Tensor | tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        components = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(components) != len(self.state_size):
            layout = (
                "a tensor h_0"
                if len(self.state_size) == 1
                else (f"a tuple of {len(self.state_size)} tensors (h_0, c_0)")
            )
            raise ValueError(f"hx: expected {layout}, got {len(components)} tensor(s)")
        return components

    def _unbatched_state(self, hx: Tensor | tuple[Tensor, ...] | None):
        """``hx`` of an unbatched call, each tensor given a batch dimension of 1."""
        if hx is None:
            return None
        check_state_ranks(self._as_components(hx), batched=False)
        return _map_state(hx, lambda s: s.unsqueeze(1))

    def _initial_state(
        self, hx: Tensor | tuple[Tensor, ...] | None, batch: int, like: Tensor
    ) -> tuple[Tensor, ...]:
        shapes = self._state_shapes(batch)
        if hx is None:
            return tuple(like.new_zeros(shape) for shape in shapes)
        components = self._as_components(hx)
        # Under autocast the input runs in the autocast dtype and the state follows it.
        autocasting = autocast_dtype(like) is not None
        check_state_shapes(components, shapes, like, check_dtype=not autocasting)
        return tuple(component.to(like.dtype) for component in components)

    def _format_state(self, final: tuple[Tensor, ...]) -> Tensor | tuple[Tensor, ...]:
        return final[0] if len(final) == 1 else final

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` calls this first: refuse with one line naming torch.export."""
        refuse_torchscript(type(self).__name__)
        return self  # not reached

    def extra_repr(self) -> str:
        """torch.nn's repr (options that differ from the defaults), then rnnkit's ``backend``."""
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if getattr(self, "proj_size", 0):
            parts.append(f"proj_size={self.proj_size}")
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if getattr(self, "bias", True) is not True:
            parts.append(f"bias={self.bias}")
        if self.batch_first:
            parts.append("batch_first=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if self.bidirectional:
            parts.append("bidirectional=True")
        if self.weight_dropout:
            parts.append(f"weight_dropout={self.weight_dropout}")
        if self.variational_dropout:
            parts.append("variational_dropout=True")
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        return ", ".join(parts)


def _compiling_not_exporting() -> bool:
    """Whether ``torch.compile`` (not ``torch.export``) is tracing."""
    return torch.compiler.is_compiling() and not torch.compiler.is_exporting()


@torch.compiler.disable
def _outside_graph(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` run eagerly under ``torch.compile`` (a graph break)."""
    return function(*args)


def _stack_states(finals: list[tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    """One ``(N, s)`` tuple per layer and direction -> ``(D * num_layers, N, s)`` components."""
    return tuple(torch.stack(parts) for parts in zip(*finals))


def _rebind_after_load(module: Recurrent, incompatible_keys: Any) -> None:
    """``load_state_dict(assign=True)`` replaces the layer's parameters: point the cells at
    them, and lay them out in one buffer again."""
    module._bind_cell_parameters()
    module.flatten_parameters()


def _map_state(state, function):
    if isinstance(state, Tensor):
        return function(state)
    return tuple(function(s) for s in state)
