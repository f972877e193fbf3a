"""One-to-many: one input (a vector, or a set of vectors to attend over) generates a sequence.

Image captioning is the example (Vinyals et al. 2015, "Show and Tell"; with attention over spatial
features, Xu et al. 2015, "Show, Attend and Tell"). The input conditions the decoder

* ``"init"``: through its initial state, ``tanh(Linear(v))`` per layer and state component
  (:class:`~rnnkit.patterns.bridge.FeatureBridge`);
* ``"input"``: as an extra input concatenated to every token embedding;
* ``"both"``: both.

``v`` is the feature vector ``(N, F)``, or, for a set of features ``(N, S, F)`` (e.g. the cells of
a CNN feature map), their mean over the real positions. With attention the decoder also attends
over the set at every step (query: its output ``h_t``; see
:class:`~rnnkit.patterns.seq2seq.AttentionalDecoder`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.layers.recurrent import Recurrent
from rnnkit.patterns._sequence import check_lengths, check_positive_int, mask_from_lengths
from rnnkit.patterns.bridge import FeatureBridge
from rnnkit.patterns.seq2seq import (
    AttentionalDecoder,
    DecoderState,
    Generation,
    Seq2SeqOutput,
    check_special_tokens,
    generate_sequences,
)

CONDITIONS = ("init", "input", "both")


class OneToMany(nn.Module):
    """Generate a token sequence from a feature vector or a set of feature vectors.

    Args:
        feature_size: ``F``.
        decoder: built, unidirectional recurrent layer with ``input_size = embedding_dim
            (+ F if condition is "input" or "both") (+ decoder.output_size if input_feeding)``.
        vocab_size: ``V``.
        embedding_dim: ``E``, token embedding size.
        condition: ``"init"``, ``"input"`` or ``"both"`` (see the module docstring).
        attention: ``"none"``, ``"additive"``, ``"dot"`` (needs ``F == decoder.output_size``)
            or ``"general"``; needs set features ``(N, S, F)``.
        attention_size: hidden size of additive attention.
        input_feeding: feed the previous attentional vector to the next step.
        bos_index, eos_index, pad_index: special tokens.
        dropout: on the token embeddings and before the output layer.
        tie_embeddings: output layer shares the embedding (needs ``E == decoder.output_size``).

    Example::

        captioner = OneToMany(512, rnnkit.LSTM(32 + 64, 64, batch_first=True), vocab_size=5000,
                              embedding_dim=32, attention="additive")
        logits, attention = captioner(cnn_features, caption[:, :-1])   # features (N, 49, 512)
        captions = captioner.generate(cnn_features, method="beam", beam_size=3).tokens
    """

    def __init__(
        self,
        feature_size: int,
        decoder: Recurrent,
        vocab_size: int,
        embedding_dim: int,
        *,
        condition: str = "init",
        attention: str = "none",
        attention_size: int | None = None,
        input_feeding: bool = True,
        bos_index: int = 1,
        eos_index: int = 2,
        pad_index: int = 0,
        dropout: float = 0.0,
        tie_embeddings: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int("feature_size", feature_size)
        check_positive_int("vocab_size", vocab_size)
        if condition not in CONDITIONS:
            raise ValueError(f"condition: expected one of {CONDITIONS}, got {condition!r}")
        check_special_tokens(vocab_size, bos_index, eos_index, pad_index)
        self.feature_size = feature_size
        self.condition = condition
        self.decoder = AttentionalDecoder(
            decoder,
            vocab_size,
            embedding_dim,
            memory_size=None if attention == "none" else feature_size,
            attention=attention,
            attention_size=attention_size,
            input_feeding=input_feeding,
            condition_size=feature_size if condition in ("input", "both") else 0,
            dropout=dropout,
            tie_embeddings=tie_embeddings,
            pad_index=pad_index,
        )
        self.bridge = FeatureBridge(feature_size, decoder) if condition != "input" else None
        self.bos_index, self.eos_index, self.pad_index = bos_index, eos_index, pad_index

    def initial_state(
        self, features: Tensor, feature_lengths: Tensor | None = None
    ) -> DecoderState:
        """The decoder state before the first token.

        Args:
            features: ``(N, F)`` one vector per example, or ``(N, S, F)`` a set (required with
                attention).
            feature_lengths: ``(N,)`` number of real vectors in each set (None: all ``S``).
        """
        if not features.dtype.is_floating_point or features.dim() not in (2, 3):
            raise ValueError(
                f"features: expected float (N, F) or (N, S, F), got {features.dtype} of shape "
                f"{tuple(features.shape)}"
            )
        if features.shape[-1] != self.feature_size:
            raise ValueError(
                f"features: expected {self.feature_size} features (feature_size) in the last "
                f"dimension, got shape {tuple(features.shape)}"
            )
        with_attention = self.decoder.attention is not None
        if features.dim() == 2:
            if with_attention:
                raise ValueError(
                    f"features: attention needs a set of vectors (N, S, F), got shape "
                    f"{tuple(features.shape)}"
                )
            if feature_lengths is not None:
                raise ValueError("feature_lengths: only for set features (N, S, F)")
            vector, mask = features, None
        else:
            batch, size = features.shape[:2]
            if feature_lengths is None:
                mask = None
                vector = features.mean(dim=1)
            else:
                lengths = check_lengths(feature_lengths, batch, size).to(features.device)
                mask = mask_from_lengths(lengths, size)
                summed = features.masked_fill(~mask.unsqueeze(2), 0.0).sum(dim=1)
                vector = summed / lengths.unsqueeze(1).to(features.dtype)
        hidden = None if self.bridge is None else self.bridge(vector)
        return self.decoder.initial_state(
            hidden,
            features.shape[0],
            memory=features if with_attention else None,
            mask=mask if with_attention else None,
            condition=vector if self.decoder.condition_size else None,
        )

    def forward(
        self,
        features: Tensor,
        target_input: Tensor,
        teacher_forcing_ratio: float = 1.0,
        feature_lengths: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Seq2SeqOutput:
        """Teacher-forced pass: ``logits (N, T, V)`` and ``attention (N, T, S)`` (or None).

        Args:
            features: ``(N, F)`` or ``(N, S, F)``; ``feature_lengths``: ``(N,)`` or None.
            target_input: ``(N, T)`` long decoder inputs, starting with bos.
            teacher_forcing_ratio: per step and example, feed the ground truth with this
                probability, else the model's greedy token.
            generator: for reproducible teacher-forcing draws.
        """
        state = self.initial_state(features, feature_lengths)
        return self.decoder(target_input, state, teacher_forcing_ratio, generator)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """``StepDecoder``: one token ``(B,)`` -> ``logits (B, V)`` and the new state."""
        return self.decoder.step(tokens, state)

    def reorder_state(self, state: DecoderState, index: Tensor) -> DecoderState:
        """``StepDecoder``: select batch entries ``index (B',)`` of the state."""
        return self.decoder.reorder_state(state, index)

    @torch.no_grad()
    def generate(
        self,
        features: Tensor,
        method: str = "greedy",
        max_length: int = 20,
        feature_lengths: Tensor | None = None,
        **options: Any,
    ) -> Generation:
        """Generate sequences with the shared decoding functions (no gradient).

        ``method`` and ``options`` as in :meth:`Seq2Seq.translate
        <rnnkit.patterns.seq2seq.Seq2Seq.translate>`; ``max_length`` counts the eos.
        """
        state = self.initial_state(features, feature_lengths)
        return generate_sequences(
            self,
            state,
            features.shape[0],
            self.bos_index,
            self.eos_index,
            method,
            max_length,
            **options,
        )
