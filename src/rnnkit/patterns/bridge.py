"""Bridges: turn an encoder's final state (or a feature vector) into a decoder's initial state.

A :class:`~rnnkit.Recurrent` layer's state is torch's ``hx`` layout: one tensor
``(D * num_layers, N, s)`` per state component (``h`` for RNN/GRU, ``(h, c)`` for LSTM), rows
ordered ``layer * D + direction``. A decoder is unidirectional, so its initial state is
``(num_layers, N, s_dec)`` per component. This module also holds the small helpers that create
and run such states (:func:`zero_state`, :func:`run_with_state`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.layers.recurrent import Recurrent
from rnnkit.patterns._sequence import check_positive_int, check_recurrent

RecurrentState = Tensor | tuple[Tensor, ...]


def state_components(state: RecurrentState) -> tuple[Tensor, ...]:
    """The state as a tuple of components (a one-component state may be a bare tensor)."""
    return (state,) if isinstance(state, Tensor) else tuple(state)


def format_state(components: tuple[Tensor, ...] | list[Tensor]) -> RecurrentState:
    """The layer's ``hx`` layout: a bare tensor for one component, a tuple otherwise."""
    return components[0] if len(components) == 1 else tuple(components)


def zero_state(
    rnn: Recurrent, batch_size: int, dtype: torch.dtype | None = None, device=None
) -> RecurrentState:
    """All-zero ``hx`` for ``rnn``: ``(D * num_layers, batch_size, s)`` per state component."""
    rows = rnn.num_directions * rnn.num_layers
    return format_state(
        [torch.zeros(rows, batch_size, size, dtype=dtype, device=device) for size in rnn.state_size]
    )


def run_with_state(
    rnn: Recurrent,
    inputs: Tensor,
    state: RecurrentState | None = None,
    lengths: Tensor | None = None,
) -> tuple[Tensor, RecurrentState]:
    """Run ``rnn`` on batch-first ``inputs (N, L, F)`` from ``state``, whatever its batch_first.

    Returns batch-first ``outputs (N, L, D * H_out)`` and the final state in the ``hx`` layout,
    ready to be passed back (carried state, step-by-step decoding).
    """
    time_major = not rnn.batch_first
    layer_input = inputs.transpose(0, 1) if time_major else inputs
    outputs, final_state = rnn(layer_input, state, lengths=lengths)
    return (outputs.transpose(0, 1) if time_major else outputs), final_state


def check_unidirectional(rnn: Recurrent, name: str = "decoder") -> None:
    """A decoder runs forward in time, one step at a time: refuse a bidirectional layer."""
    if rnn.num_directions != 1:
        raise ValueError(
            f"{name}: expected a unidirectional recurrent layer (a decoder generates left to "
            f"right), got bidirectional=True"
        )


def _tanh_linear(in_features: int, out_features: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_features, out_features), nn.Tanh())


class Bridge(nn.Module):
    """Map an encoder's final state to a (unidirectional) decoder's initial state.

    For every decoder state component ``k``:

    1. **Directions**: the encoder's two directions are concatenated per layer,
       ``(D * L_enc, N, s) -> (L_enc, N, D * s)`` (forward first).
    2. **Depth**: if ``L_dec == L_enc`` layer ``l`` initialises decoder layer ``l``; otherwise the
       encoder's top layer initialises every decoder layer.
    3. **Components**: decoder component ``k`` comes from encoder component ``k`` when the encoder
       has one; a component the encoder lacks (LSTM decoder after a GRU encoder: ``c``) comes from
       the encoder's component 0 (``h``) through its own projection. Encoder components the
       decoder lacks (``c`` of an LSTM encoder before a GRU decoder) are dropped.
    4. **Size**: when the sizes match the state passes unchanged (no parameters); otherwise, and
       always for a derived component, it goes through ``tanh(Linear(D * s_enc, s_dec))``, one
       projection per component shared by all decoder layers. ``always_project=True`` projects
       matching sizes too.

    Args:
        encoder: the built encoder layer (only its sizes are read; it is not registered).
        decoder: the built decoder layer; must be unidirectional (ValueError otherwise).
        always_project: project every component even when the sizes match.

    Shapes:
        forward: encoder ``h_n`` (``(D_enc * L_enc, N, s)`` per component) ->
        decoder ``h_0`` (``(L_dec, N, s_dec)`` per component), in the layers' ``hx`` layout.
    """

    def __init__(self, encoder: Recurrent, decoder: Recurrent, always_project: bool = False):
        super().__init__()
        check_recurrent(encoder, "encoder")
        check_recurrent(decoder, "decoder")
        check_unidirectional(decoder, "decoder")
        self.encoder_layers = encoder.num_layers
        self.encoder_directions = encoder.num_directions
        self.decoder_layers = decoder.num_layers
        self.encoder_state_size = tuple(encoder.state_size)
        self.decoder_state_size = tuple(decoder.state_size)
        sources, projections = [], []
        for k, decoder_size in enumerate(self.decoder_state_size):
            source = k if k < len(self.encoder_state_size) else 0
            source_size = self.encoder_directions * self.encoder_state_size[source]
            sources.append(source)
            if source == k and source_size == decoder_size and not always_project:
                projections.append(nn.Identity())
            else:
                projections.append(_tanh_linear(source_size, decoder_size))
        self.sources = tuple(sources)
        self.projections = nn.ModuleList(projections)

    def forward(self, encoder_state: RecurrentState) -> RecurrentState:
        components = state_components(encoder_state)
        rows = self.encoder_directions * self.encoder_layers
        if len(components) != len(self.encoder_state_size) or any(
            c.dim() != 3 or c.shape[0] != rows or c.shape[2] != s
            for c, s in zip(components, self.encoder_state_size)
        ):
            expected = ", ".join(f"({rows}, N, {s})" for s in self.encoder_state_size)
            received = ", ".join(str(tuple(c.shape)) for c in components)
            raise ValueError(
                f"encoder_state: expected the encoder's h_n with component shapes {expected}, "
                f"got {received}"
            )
        batch = components[0].shape[1]
        per_layer = {}
        for source in set(self.sources):
            state = components[source].view(self.encoder_layers, self.encoder_directions, batch, -1)
            state = state.transpose(1, 2).reshape(self.encoder_layers, batch, -1)
            if self.decoder_layers != self.encoder_layers:
                state = state[-1:].expand(self.decoder_layers, -1, -1)
            per_layer[source] = state
        return format_state(
            [
                projection(per_layer[source]).contiguous()
                for source, projection in zip(self.sources, self.projections)
            ]
        )

    def extra_repr(self) -> str:
        return (
            f"encoder: {self.encoder_directions} x {self.encoder_layers} layers "
            f"{self.encoder_state_size} -> decoder: {self.decoder_layers} layers "
            f"{self.decoder_state_size}"
        )


class FeatureBridge(nn.Module):
    """Map one feature vector per example to a decoder's initial state (one-to-many).

    Every decoder state component gets ``tanh(Linear(F, L_dec * s))`` reshaped to
    ``(L_dec, N, s)``: each layer and component has its own initial value.

    Args:
        feature_size: ``F``.
        decoder: the built decoder layer; must be unidirectional (ValueError otherwise).

    Shapes:
        forward: ``(N, F)`` -> decoder ``h_0`` (``(L_dec, N, s)`` per component), in the
        layer's ``hx`` layout.
    """

    def __init__(self, feature_size: int, decoder: Recurrent) -> None:
        super().__init__()
        check_positive_int("feature_size", feature_size)
        check_recurrent(decoder, "decoder")
        check_unidirectional(decoder, "decoder")
        self.feature_size = feature_size
        self.decoder_layers = decoder.num_layers
        self.decoder_state_size = tuple(decoder.state_size)
        self.projections = nn.ModuleList(
            _tanh_linear(feature_size, self.decoder_layers * size)
            for size in self.decoder_state_size
        )

    def forward(self, features: Tensor) -> RecurrentState:
        if features.dim() != 2 or features.shape[1] != self.feature_size:
            raise ValueError(
                f"features: expected shape (N, {self.feature_size}), got {tuple(features.shape)}"
            )
        batch = features.shape[0]
        return format_state(
            [
                projection(features)
                .view(batch, self.decoder_layers, size)
                .transpose(0, 1)
                .contiguous()
                for projection, size in zip(self.projections, self.decoder_state_size)
            ]
        )
