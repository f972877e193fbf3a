"""Encoder-decoder (many-to-many, unaligned): ``Seq2Seq`` and the attentional decoder it shares.

The encoder compresses the source into its final state (the context vector) and, with attention,
a memory bank of its outputs; a :class:`~rnnkit.patterns.bridge.Bridge` turns the final state into
the decoder's initial state; the decoder then predicts the target one token at a time (Sutskever
et al. 2014, Bahdanau et al. 2015, Luong et al. 2015).

One decoder step (:class:`AttentionalDecoder`), Luong style::

    x_t  = [embed(y_{t-1}); condition; a~_{t-1}]      condition: OneToMany's vector, if any;
                                                       a~_{t-1}: only with input_feeding
    h_t  = rnn(x_t, state_{t-1})                       the top layer's output, (N, H)
    c_t, alpha_t = attention(h_t, memory, mask)        context (N, H_k), weights (N, S)
    a~_t = tanh(W_c [h_t; c_t])                        attentional vector (a~_t = h_t without
                                                       attention)
    logits_t = W_out dropout(a~_t) + b_out             (N, V)

Both :class:`Seq2Seq` and :class:`~rnnkit.patterns.one_to_many.OneToMany` implement the
:class:`~rnnkit.patterns.decoding.StepDecoder` protocol through this decoder, so the shared
greedy / sampling / beam search functions decode them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers.recurrent import Recurrent
from rnnkit.patterns._sequence import (
    check_dropout,
    check_positive_int,
    check_recurrent,
    prepare_inputs,
    run_recurrent,
)
from rnnkit.patterns.attention import ATTENTION_KINDS, make_attention
from rnnkit.patterns.bridge import (
    Bridge,
    RecurrentState,
    check_unidirectional,
    run_with_state,
    zero_state,
)
from rnnkit.patterns.decoding import (
    DecodeResult,
    beam_search,
    greedy_decode,
    sample_decode,
    select_batch,
)
from rnnkit.patterns.teacher_forcing import use_teacher_forcing

DECODING_METHODS = ("greedy", "beam", "sample")


class DecoderState(NamedTuple):
    """Everything one decoder step reads and writes (the state of the ``StepDecoder`` protocol).

    Attributes:
        hidden: the decoder layer's state, ``(L_dec, B, s)`` per component (``hx`` layout).
        input_feed: ``(B, H)`` the previous attentional vector (input feeding), else None.
        memory: ``(B, S, H_k)`` what attention reads (encoder outputs, image regions), or None.
        projected_memory: ``attention.project_keys(memory)``, computed once, or None.
        mask: ``(B, S)`` bool, True at real memory positions, or None.
        condition: ``(B, C)`` a vector fed with every input token (one-to-many), or None.
        attention: ``(B, S)`` the last step's attention weights, or None.
    """

    hidden: RecurrentState
    input_feed: Tensor | None = None
    memory: Tensor | None = None
    projected_memory: Tensor | None = None
    mask: Tensor | None = None
    condition: Tensor | None = None
    attention: Tensor | None = None


class Seq2SeqOutput(NamedTuple):
    """Teacher-forced decoder output: ``logits (N, T, V)``; ``attention (N, T, S)`` or None."""

    logits: Tensor
    attention: Tensor | None


@dataclass
class Generation:
    """Generated sequences (``Seq2Seq.translate``, ``OneToMany.generate``).

    Attributes:
        tokens: ``(N, W)`` the best hypothesis per example, without bos, with the eos if one was
            produced, padded with eos.
        lengths: ``(N,)`` number of generated tokens, eos included.
        scores: ``(N,)`` sum of the model's log-probabilities of the tokens.
        attention: ``(N, W, S)`` attention weights of each generated token, zero past
            ``lengths``; for ``greedy`` and ``sample`` with attention, else None.
        hypotheses: the full :class:`~rnnkit.patterns.decoding.DecodeResult` (``n_best`` per
            example for beam search).
    """

    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    attention: Tensor | None
    hypotheses: DecodeResult


class AttentionalDecoder(nn.Module):
    """Token decoder: embedding, recurrent layer, optional attention, vocabulary projection.

    See the module docstring for one step. The layer's ``input_size`` must be
    ``embedding_dim + condition_size + (rnn.output_size if input_feeding else 0)``.

    Args:
        rnn: the built decoder layer, unidirectional.
        vocab_size: ``V``, target vocabulary.
        embedding_dim: ``E``, target token embedding size.
        memory_size: ``H_k``, feature size of the memory attention reads (required with
            attention, must be None without).
        attention: ``"none"``, ``"additive"``, ``"dot"`` (needs ``H_k == rnn.output_size``) or
            ``"general"``.
        attention_size: hidden size of additive attention (default ``rnn.output_size``).
        input_feeding: feed the previous attentional vector with the next token (Luong). Without
            attention the attentional vector is the decoder output ``h_t`` itself.
        condition_size: size of a vector fed with every token (0: none).
        dropout: on the token embeddings and on the attentional vector before the output layer.
        tie_embeddings: share the output layer's weight with the embedding (needs
            ``embedding_dim == rnn.output_size``).
        pad_index: padding token (its embedding is zero and receives no gradient), or None.
    """

    def __init__(
        self,
        rnn: Recurrent,
        vocab_size: int,
        embedding_dim: int,
        memory_size: int | None = None,
        attention: str = "none",
        attention_size: int | None = None,
        input_feeding: bool = True,
        condition_size: int = 0,
        dropout: float = 0.0,
        tie_embeddings: bool = False,
        pad_index: int | None = None,
    ) -> None:
        super().__init__()
        check_recurrent(rnn, "decoder")
        check_unidirectional(rnn, "decoder")
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("embedding_dim", embedding_dim)
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention: expected one of {ATTENTION_KINDS}, got {attention!r}")
        if attention != "none" and memory_size is None:
            raise ValueError(f"memory_size: required with attention={attention!r}, got None")
        if attention == "none" and memory_size is not None:
            raise ValueError(
                f"memory_size: only used with attention, got {memory_size} with attention='none'"
            )
        if isinstance(condition_size, bool) or not isinstance(condition_size, int):
            raise ValueError(f"condition_size: expected an int >= 0, got {condition_size!r}")
        if condition_size < 0:
            raise ValueError(f"condition_size: expected an int >= 0, got {condition_size}")
        hidden_size = rnn.output_size
        expected_input = embedding_dim + condition_size + (hidden_size if input_feeding else 0)
        if rnn.input_size != expected_input:
            parts = [f"embedding_dim={embedding_dim}"]
            if condition_size:
                parts.append(f"condition size {condition_size}")
            if input_feeding:
                parts.append(f"the fed attentional vector {hidden_size} (input_feeding=True)")
            raise ValueError(
                f"decoder: expected input_size={expected_input} ({' + '.join(parts)}), got "
                f"input_size={rnn.input_size}"
            )
        if tie_embeddings and embedding_dim != hidden_size:
            raise ValueError(
                f"tie_embeddings: needs embedding_dim == the decoder's output_size={hidden_size}, "
                f"got embedding_dim={embedding_dim}"
            )
        if pad_index is not None and not 0 <= pad_index < vocab_size:
            raise ValueError(
                f"pad_index: expected a token id in [0, {vocab_size}), got {pad_index}"
            )
        self.rnn = rnn
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.memory_size = memory_size
        self.input_feeding = bool(input_feeding)
        self.condition_size = condition_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        self.attention = make_attention(attention, hidden_size, memory_size or 1, attention_size)
        self.combine = (
            None
            if self.attention is None
            else nn.Linear(hidden_size + memory_size, hidden_size, bias=False)
        )
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.output = nn.Linear(hidden_size, vocab_size)
        if tie_embeddings:
            self.output.weight = self.embedding.weight

    @property
    def uses_step_loop(self) -> bool:
        """False when a teacher-forced pass runs the layer over the whole target at once.

        That is possible only without attention and without input feeding: then no step's
        input depends on the previous step's output.
        """
        return self.attention is not None or self.input_feeding

    def initial_state(
        self,
        hidden: RecurrentState | None,
        batch_size: int,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        condition: Tensor | None = None,
    ) -> DecoderState:
        """The state before the first step.

        Args:
            hidden: the layer's initial state (e.g. from a bridge), or None for zeros.
            batch_size: ``B``.
            memory: ``(B, S, H_k)`` what attention reads (required with attention).
            mask: ``(B, S)`` bool, True at real memory positions (None: all real).
            condition: ``(B, condition_size)`` (required when ``condition_size > 0``).
        """
        weight = self.embedding.weight
        if (memory is None) != (self.attention is None):
            raise ValueError(
                "memory: expected a (B, S, H_k) tensor with attention and None without, got "
                f"{'None' if memory is None else tuple(memory.shape)}"
            )
        projected = None
        if memory is not None:
            if memory.dim() != 3 or memory.shape[0] != batch_size:
                raise ValueError(
                    f"memory: expected shape ({batch_size}, S, {self.memory_size}), got "
                    f"{tuple(memory.shape)}"
                )
            projected = self.attention.project_keys(memory)
        if (condition is None) != (self.condition_size == 0):
            raise ValueError(
                f"condition: expected a ({batch_size}, {self.condition_size}) tensor when "
                f"condition_size > 0 and None otherwise, got "
                f"{'None' if condition is None else tuple(condition.shape)}"
            )
        if hidden is None:
            hidden = zero_state(self.rnn, batch_size, dtype=weight.dtype, device=weight.device)
        input_feed = None
        if self.input_feeding:
            input_feed = weight.new_zeros(batch_size, self.hidden_size)
        return DecoderState(hidden, input_feed, memory, projected, mask, condition, None)

    def _inputs(self, embedded: Tensor, state: DecoderState) -> Tensor:
        """``(B, T, E)`` embeddings -> ``(B, T, input_size)`` layer inputs (T = 1 when feeding)."""
        parts = [embedded]
        if state.condition is not None:
            parts.append(state.condition.unsqueeze(1).expand(-1, embedded.shape[1], -1))
        if state.input_feed is not None:
            parts.append(state.input_feed.unsqueeze(1))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """One step: ``tokens (B,)`` long -> ``logits (B, V)`` and the new state."""
        embedded = self.dropout(self.embedding(tokens)).unsqueeze(1)
        output, hidden = run_with_state(self.rnn, self._inputs(embedded, state), state.hidden)
        output = output.squeeze(1)  # (B, H)
        weights = None
        if self.attention is None:
            attentional = output
        else:
            context, weights = self.attention(
                output, state.memory, state.mask, projected_keys=state.projected_memory
            )
            attentional = torch.tanh(self.combine(torch.cat((output, context), dim=-1)))
        logits = self.output(self.dropout(attentional))
        return logits, state._replace(
            hidden=hidden,
            input_feed=attentional if self.input_feeding else None,
            attention=weights,
        )

    def reorder_state(self, state: DecoderState, index: Tensor) -> DecoderState:
        """Select batch entries ``index (B',)`` of every part of the state."""
        return DecoderState(
            select_batch(state.hidden, index, dim=1),
            *(select_batch(part, index, dim=0) for part in state[1:]),
        )

    def forward(
        self,
        target_input: Tensor,
        state: DecoderState,
        teacher_forcing_ratio: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Seq2SeqOutput:
        """Decode a whole target, feeding the ground truth (teacher forcing) or own predictions.

        Args:
            target_input: ``(B, T)`` long, the decoder inputs (bos, y_1, ..., y_{T-1}).
            state: from :meth:`initial_state`.
            teacher_forcing_ratio: probability, per step > 0 and per example, of feeding
                ``target_input[:, t]`` rather than the greedy prediction of step ``t - 1``.
                Step 0 always reads ``target_input[:, 0]``.
            generator: for reproducible teacher-forcing draws.

        Returns:
            :class:`Seq2SeqOutput` with ``logits (B, T, V)`` and ``attention (B, T, S)`` (None
            without attention). Steps after a target's end are computed (they cannot change the
            earlier ones); leave them out of the loss (``ignore_index=pad_index``).
        """
        self._check_target_input(target_input, teacher_forcing_ratio)
        if teacher_forcing_ratio == 1.0 and not self.uses_step_loop:
            # No step depends on the previous output: run the layer over the whole target.
            embedded = self.dropout(self.embedding(target_input))
            output, _ = run_with_state(self.rnn, self._inputs(embedded, state), state.hidden)
            return Seq2SeqOutput(self.output(self.dropout(output)), None)
        all_logits, all_weights = [], []
        for logits, after in self._steps(target_input, state, teacher_forcing_ratio, generator):
            all_logits.append(logits)
            all_weights.append(after.attention)
        attention = None if self.attention is None else torch.stack(all_weights, dim=1)
        return Seq2SeqOutput(torch.stack(all_logits, dim=1), attention)

    def loss(
        self,
        target_input: Tensor,
        target_output: Tensor,
        state: DecoderState,
        teacher_forcing_ratio: float = 1.0,
        generator: torch.Generator | None = None,
        ignore_index: int = -100,
    ) -> Tensor:
        """``cross_entropy(forward(...).logits, target_output, ignore_index=...)`` (the mean over
        the target tokens that are not ``ignore_index``), computed step by step.

        The same steps, draws and gradients as :meth:`forward` followed by the loss, without
        holding the ``(B, T, V)`` logits: each step's cross entropy keeps only its ``(B, V)``
        log-probabilities for the backward pass (forward's logits, their stacked copy and the
        loss's log-probabilities and gradients were each ``B * T * V`` floats).

        Args:
            target_input: ``(B, T)`` long decoder inputs; ``target_output``: ``(B, T)`` long
                tokens each step predicts.
        """
        self._check_target_input(target_input, teacher_forcing_ratio)
        if target_output.shape != target_input.shape:
            raise ValueError(
                f"target_output: expected the shape of target_input {tuple(target_input.shape)}, "
                f"got {tuple(target_output.shape)}"
            )
        if teacher_forcing_ratio == 1.0 and not self.uses_step_loop:
            logits = self.forward(target_input, state, teacher_forcing_ratio, generator).logits
            return F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                target_output.reshape(-1),
                ignore_index=ignore_index,
            )
        total: Tensor | float = 0.0
        steps = self._steps(target_input, state, teacher_forcing_ratio, generator)
        for t, (logits, _) in enumerate(steps):
            total = total + F.cross_entropy(
                logits, target_output[:, t], ignore_index=ignore_index, reduction="sum"
            )
        return total / (target_output != ignore_index).sum()

    @staticmethod
    def _check_target_input(target_input: Tensor, teacher_forcing_ratio: float) -> None:
        if target_input.dim() != 2 or target_input.dtype != torch.long:
            raise ValueError(
                f"target_input: expected (B, T) long token ids, got {target_input.dtype} of shape "
                f"{tuple(target_input.shape)}"
            )
        if target_input.shape[1] == 0:
            raise ValueError("target_input: expected at least one step, got T=0")
        check_teacher_forcing_ratio(teacher_forcing_ratio)

    def _steps(
        self,
        target_input: Tensor,
        state: DecoderState,
        teacher_forcing_ratio: float,
        generator: torch.Generator | None,
    ) -> Iterator[tuple[Tensor, DecoderState]]:
        """Each step's ``logits (B, V)`` and the state after it, the step's input token the
        ground truth or (with probability ``1 - teacher_forcing_ratio`` per example) the greedy
        prediction of the step before."""
        batch, steps = target_input.shape
        previous: Tensor | None = None
        for t in range(steps):
            tokens = target_input[:, t]
            if t > 0 and teacher_forcing_ratio < 1.0:
                forced = use_teacher_forcing(
                    teacher_forcing_ratio, batch, generator, target_input.device
                )
                tokens = torch.where(forced, tokens, previous.argmax(-1))
            logits, state = self.step(tokens, state)
            yield logits, state
            previous = logits


class Seq2Seq(nn.Module):
    """Encoder-decoder with optional attention (Bahdanau / Luong) and input feeding.

    Args:
        encoder: built source layer (any cell, bidirectional and stacked allowed).
        decoder: built target layer, unidirectional, with ``input_size = embedding_dim
            (+ decoder.output_size if input_feeding)``; ValueError otherwise.
        source_vocab_size: embed source token ids ``(N, S)`` with an ``nn.Embedding`` of this size
            and dimension ``encoder.input_size``; None when the source is given as features
            ``(N, S, encoder.input_size)`` or embedded by ``source_embedding``.
        target_vocab_size: ``V``.
        embedding_dim: ``E``, target embedding size.
        source_embedding: a module mapping the source to ``(N, S, encoder.input_size)`` (e.g. a
            pretrained embedding), instead of ``source_vocab_size``.
        attention: ``"none"`` (the encoder's final state is the only context), ``"additive"``,
            ``"dot"`` (needs ``decoder.output_size == D_enc * encoder.output_size``) or
            ``"general"``; keys are the encoder outputs ``(N, S, D_enc * encoder.output_size)``.
        attention_size: hidden size of additive attention.
        input_feeding: feed the previous attentional vector to the next step (Luong).
        bos_index, eos_index, pad_index: special target tokens (``pad_index`` also pads a
            source vocabulary).
        dropout: on the embeddings and before the output layer.
        tie_embeddings: output layer shares the target embedding (needs ``embedding_dim ==
            decoder.output_size``).
        always_project_state: the bridge projects the encoder state even when sizes match.

    The teacher-forced :meth:`forward` runs the decoder layer over the whole target at once when
    ``attention="none"``, ``input_feeding=False`` and ``teacher_forcing_ratio=1``; otherwise it
    loops over the steps (the same :meth:`step` that decoding uses).

    Example::

        model = Seq2Seq(rnnkit.GRU(32, 64, bidirectional=True, batch_first=True),
                        rnnkit.GRU(32 + 64, 64, batch_first=True),
                        source_vocab_size=1000, target_vocab_size=1200, embedding_dim=32,
                        attention="general")
        logits, attention = model(source, source_lengths, target[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), target[:, 1:], ignore_index=0)
        best = model.translate(source, source_lengths, method="beam", beam_size=4).tokens
    """

    def __init__(
        self,
        encoder: Recurrent,
        decoder: Recurrent,
        source_vocab_size: int | None,
        target_vocab_size: int,
        embedding_dim: int,
        *,
        source_embedding: nn.Module | None = None,
        attention: str = "none",
        attention_size: int | None = None,
        input_feeding: bool = True,
        bos_index: int = 1,
        eos_index: int = 2,
        pad_index: int = 0,
        dropout: float = 0.0,
        tie_embeddings: bool = False,
        always_project_state: bool = False,
    ) -> None:
        super().__init__()
        check_recurrent(encoder, "encoder")
        check_positive_int("target_vocab_size", target_vocab_size)
        check_special_tokens(target_vocab_size, bos_index, eos_index, pad_index)
        if source_vocab_size is not None and source_embedding is not None:
            raise ValueError(
                "source_embedding: give either source_vocab_size or source_embedding, not both"
            )
        if source_vocab_size is not None:
            check_positive_int("source_vocab_size", source_vocab_size)
            source_embedding = nn.Embedding(
                source_vocab_size,
                encoder.input_size,
                padding_idx=pad_index if pad_index < source_vocab_size else None,
            )
        elif source_embedding is not None and not isinstance(source_embedding, nn.Module):
            raise ValueError(
                f"source_embedding: expected an nn.Module, got {type(source_embedding).__name__}"
            )
        self.source_embedding = source_embedding
        self.source_dropout = nn.Dropout(check_dropout(dropout))
        self.encoder = encoder
        self.bridge = Bridge(encoder, decoder, always_project=always_project_state)
        memory_size = encoder.num_directions * encoder.output_size
        self.decoder = AttentionalDecoder(
            decoder,
            target_vocab_size,
            embedding_dim,
            memory_size=None if attention == "none" else memory_size,
            attention=attention,
            attention_size=attention_size,
            input_feeding=input_feeding,
            dropout=dropout,
            tie_embeddings=tie_embeddings,
            pad_index=pad_index,
        )
        self.bos_index, self.eos_index, self.pad_index = bos_index, eos_index, pad_index

    def encode(self, source: Tensor, source_lengths: Tensor | None = None) -> DecoderState:
        """Run the encoder and the bridge: the decoder state before the first target token.

        Args:
            source: ``(N, S)`` token ids (with a source embedding) or ``(N, S, F)`` features.
            source_lengths: ``(N,)`` real lengths (padded steps are never computed), or None.

        Returns:
            :class:`DecoderState` for ``N`` examples (memory and mask only with attention).
        """
        batch = prepare_inputs(
            source, source_lengths, self.source_embedding, self.encoder.input_size
        )
        features = batch.features
        if self.source_embedding is not None:
            features = self.source_dropout(features)
        memory, final_state = run_recurrent(self.encoder, features, batch.lengths)
        with_attention = self.decoder.attention is not None
        return self.decoder.initial_state(
            self.bridge(final_state),
            features.shape[0],
            memory=memory if with_attention else None,
            mask=batch.mask if with_attention else None,
        )

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor | None,
        target_input: Tensor,
        teacher_forcing_ratio: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Seq2SeqOutput:
        """Teacher-forced pass: ``logits (N, T, V)`` and ``attention (N, T, S)`` (or None).

        Args:
            source: ``(N, S)`` ids or ``(N, S, F)`` features; ``source_lengths``: ``(N,)`` or None.
            target_input: ``(N, T)`` long decoder inputs, starting with bos.
            teacher_forcing_ratio: see :meth:`AttentionalDecoder.forward` (per step and
                example, ground truth with this probability, else the model's greedy token).
            generator: for reproducible teacher-forcing draws.
        """
        state = self.encode(source, source_lengths)
        return self.decoder(target_input, state, teacher_forcing_ratio, generator)

    def loss(
        self,
        source: Tensor,
        source_lengths: Tensor | None,
        target_input: Tensor,
        target_output: Tensor,
        teacher_forcing_ratio: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The mean cross entropy of :meth:`forward`'s logits against ``target_output (N, T)``
        (``pad_index`` tokens left out), step by step without holding ``(N, T, V)`` logits; see
        :meth:`AttentionalDecoder.loss`."""
        state = self.encode(source, source_lengths)
        return self.decoder.loss(
            target_input,
            target_output,
            state,
            teacher_forcing_ratio,
            generator,
            ignore_index=self.pad_index,
        )

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """``StepDecoder``: one target token ``(B,)`` -> ``logits (B, V)`` and the new state."""
        return self.decoder.step(tokens, state)

    def reorder_state(self, state: DecoderState, index: Tensor) -> DecoderState:
        """``StepDecoder``: select batch entries ``index (B',)`` of the state."""
        return self.decoder.reorder_state(state, index)

    @torch.no_grad()
    def translate(
        self,
        source: Tensor,
        source_lengths: Tensor | None = None,
        method: str = "greedy",
        max_length: int | None = None,
        **options: Any,
    ) -> Generation:
        """Decode the source with the shared decoding functions (no gradient).

        Args:
            source, source_lengths: as in :meth:`encode`.
            method: ``"greedy"``, ``"beam"`` or ``"sample"``.
            max_length: most generated tokens (eos included); default ``2 * S + 10``.
            **options: for ``"beam"``: ``beam_size`` (5), ``length_penalty`` (1.0), ``n_best``
                (1); for ``"sample"``: ``temperature`` (1.0), ``top_k``, ``top_p``,
                ``generator``. An option the method does not use raises a ValueError.

        Returns:
            :class:`Generation`; with attention, ``greedy`` and ``sample`` also return the
            attention weights ``(N, W, S)`` (e.g. to plot alignments). Call ``eval()`` first:
            dropout stays active in training mode.
        """
        state = self.encode(source, source_lengths)
        if max_length is None:
            max_length = 2 * source.shape[1] + 10
        return generate_sequences(
            self,
            state,
            source.shape[0],
            self.bos_index,
            self.eos_index,
            method,
            max_length,
            **options,
        )


_METHOD_OPTIONS = {
    "greedy": {},
    "beam": {"beam_size": 5, "length_penalty": 1.0, "n_best": 1},
    "sample": {"temperature": 1.0, "top_k": None, "top_p": None, "generator": None},
}


class _AttentionRecorder:
    """Wraps a decoder to keep each step's attention weights (``state.attention``)."""

    def __init__(self, decoder: Any) -> None:
        self.decoder, self.weights = decoder, []

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        logits, state = self.decoder.step(tokens, state)
        self.weights.append(state.attention)
        return logits, state

    def reorder_state(self, state: DecoderState, index: Tensor) -> DecoderState:
        return self.decoder.reorder_state(state, index)


def generate_sequences(
    decoder: Any,
    state: DecoderState,
    batch_size: int,
    bos: int,
    eos: int,
    method: str,
    max_length: int,
    **options: Any,
) -> Generation:
    """Run ``greedy_decode`` / ``beam_search`` / ``sample_decode`` and gather a :class:`Generation`.

    ``options`` are the method's own arguments (see :meth:`Seq2Seq.translate`); one the method
    does not use raises a ValueError rather than being ignored.
    """
    if method not in DECODING_METHODS:
        raise ValueError(f"method: expected one of {DECODING_METHODS}, got {method!r}")
    unused = sorted(set(options) - set(_METHOD_OPTIONS[method]))
    if unused:
        raise ValueError(
            f"{unused[0]}: not used by method={method!r} (it takes "
            f"{sorted(_METHOD_OPTIONS[method]) or 'no options'}), got {unused[0]}="
            f"{options[unused[0]]!r}"
        )
    arguments = {**_METHOD_OPTIONS[method], **options}
    recorder = _AttentionRecorder(decoder) if method != "beam" else decoder
    decode = {"greedy": greedy_decode, "beam": beam_search, "sample": sample_decode}[method]
    result = decode(recorder, state, bos, eos, max_length, batch_size, **arguments)
    tokens, lengths, scores = result.tokens[:, 0], result.lengths[:, 0], result.scores[:, 0]
    attention = None
    if method != "beam" and recorder.weights and recorder.weights[0] is not None:
        attention = torch.stack(recorder.weights, dim=1)[:, : tokens.shape[1]]
        generated = torch.arange(attention.shape[1], device=attention.device)
        attention = attention * (generated.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)
    return Generation(tokens, lengths, scores, attention, result)


def check_teacher_forcing_ratio(ratio: float) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise ValueError(f"teacher_forcing_ratio: expected a value in [0, 1], got {ratio!r}")


def check_special_tokens(vocab_size: int, bos: int, eos: int, pad: int) -> None:
    for name, index in (("bos_index", bos), ("eos_index", eos), ("pad_index", pad)):
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < vocab_size:
            raise ValueError(
                f"{name}: expected a token id in [0, {vocab_size}) (the target vocabulary), "
                f"got {index!r}"
            )
