"""Many-to-one: a whole sequence in, one output out (sentiment, sequence classification)."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.layers.recurrent import Recurrent
from rnnkit.patterns._sequence import (
    check_dropout,
    check_input_layer,
    check_positive_int,
    check_recurrent,
    prepare_inputs,
    run_recurrent,
)
from rnnkit.patterns.pooling import POOLINGS, PoolingOutput, make_pooling


class ManyToOneOutput(NamedTuple):
    """What ``ManyToOne.forward(..., return_weights=True)`` returns.

    Attributes:
        logits: ``(N, num_outputs)``.
        weights: ``(N, L)`` attention weights, summing to 1 over each sequence's real steps
            and exactly 0 on padding (for plotting); None unless ``pooling="attention"``.
    """

    logits: Tensor
    weights: Tensor | None


class ManyToOne(nn.Module):
    """Sequence classifier/regressor: encoder, pooling over time, then a linear layer.

    ::

        inputs ─▶ input_layer ─▶ rnn ─▶ pooling ─▶ dropout ─▶ Linear ─▶ logits
        (N, L[, F])              (N, L, D*H)  (N, D*H)                  (N, num_outputs)

    Args:
        rnn: a built :class:`rnnkit.Recurrent` (``rnnkit.LSTM(...)``, a user cell's layer...);
            its ``batch_first`` flag does not matter, inputs here are always batch-first.
        num_outputs: number of classes (or regression targets).
        pooling: ``"last"`` (forward direction at the last real step, backward direction at
            step 0, from the top layer's ``h_n``), ``"mean"`` / ``"max"`` over real steps, or
            ``"attention"`` (learned additive scorer, softmax over real steps); see
            :mod:`rnnkit.patterns.pooling`.
        input_layer: optional module applied to every step first, e.g. ``nn.Embedding`` for
            token ids.
        dropout: dropout probability on the pooled vector, before the output layer.
        attention_size: width of the attention scorer (``pooling="attention"`` only;
            defaults to ``D * H``).

    Shapes:
        inputs: ``(N, L, F)`` float, ``(N, L)`` token ids with an ``input_layer``, or a
            PackedSequence of either.
        lengths: optional ``(N,)`` integers in ``[1, L]``; padded steps are never computed,
            so their values never change the output.

    Attributes:
        pooling: the pooling module; output_layer: ``nn.Linear(D * H, num_outputs)``.

    Example::

        model = ManyToOne(rnnkit.LSTM(32, 64, bidirectional=True), 2, pooling="attention",
                          input_layer=nn.Embedding(1000, 32))
        logits, weights = model(token_ids, lengths, return_weights=True)
    """

    def __init__(
        self,
        rnn: Recurrent,
        num_outputs: int,
        pooling: str = "last",
        input_layer: nn.Module | None = None,
        dropout: float = 0.0,
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        check_recurrent(rnn)
        check_positive_int("num_outputs", num_outputs)
        if not isinstance(pooling, str) or pooling not in POOLINGS:
            raise ValueError(f"pooling: expected one of {', '.join(POOLINGS)}, got {pooling!r}")
        check_input_layer(input_layer, rnn.input_size)
        self.input_layer = input_layer
        self.rnn = rnn
        self.num_outputs = num_outputs
        self.pooling_name = pooling
        features = rnn.num_directions * rnn.output_size
        self.pooling = make_pooling(pooling, features, rnn.num_directions, attention_size)
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.output_layer = nn.Linear(features, num_outputs)
        # h_n holds the last output only when a cell's output is its first state component.
        self._last_from_state = rnn.state_size[0] == rnn.output_size

    def encode(
        self, inputs: Tensor | PackedSequence, lengths: Tensor | None = None
    ) -> PoolingOutput:
        """The pooled sequence vector ``(N, D * H)`` and pooling weights (see ``forward``)."""
        batch = prepare_inputs(inputs, lengths, self.input_layer, self.rnn.input_size)
        outputs, final_state = run_recurrent(self.rnn, batch.features, batch.lengths)
        return self.pooling(outputs, batch.mask, final_state if self._last_from_state else None)

    def forward(
        self,
        inputs: Tensor | PackedSequence,
        lengths: Tensor | None = None,
        return_weights: bool = False,
    ) -> Tensor | ManyToOneOutput:
        """Logits ``(N, num_outputs)``; with ``return_weights``, a :class:`ManyToOneOutput`
        ``(logits, weights)`` where ``weights`` is ``(N, L)`` for attention pooling, else None.
        """
        pooled, weights = self.encode(inputs, lengths)
        logits = self.output_layer(self.dropout(pooled))
        if return_weights:
            return ManyToOneOutput(logits, weights)
        return logits

    def extra_repr(self) -> str:
        return f"num_outputs={self.num_outputs}, pooling={self.pooling_name!r}"
