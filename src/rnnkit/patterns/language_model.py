"""Recurrent language model: predict the next token at every step (many-to-many, aligned).

``logits[:, t]`` scores ``tokens[:, t + 1]`` given ``tokens[:, :t + 1]``; train with
``cross_entropy(logits[:, :-1], tokens[:, 1:])``. For truncated backpropagation through time, pass
the returned state to the next chunk after :func:`detach_state` (Zaremba et al. 2014; weight tying:
Press & Wolf 2017, Inan et al. 2017).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.layers.locked_dropout import LockedDropout
from rnnkit.layers.recurrent import Recurrent
from rnnkit.patterns._sequence import (
    check_dropout,
    check_lengths,
    check_positive_int,
    check_recurrent,
)
from rnnkit.patterns.activation_regularization import ActivationRegularization
from rnnkit.patterns.bridge import (
    RecurrentState,
    check_unidirectional,
    run_with_state,
    zero_state,
)
from rnnkit.patterns.decoding import greedy_decode, sample_decode, select_batch
from rnnkit.patterns.embedding_dropout import embedding_dropout


def detach_state(state: RecurrentState | None) -> RecurrentState | None:
    """Cut the graph behind a carried state (truncated BPTT); same layout as the input."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(component.detach() for component in state)


class LanguageModel(nn.Module):
    """Embedding -> recurrent layer -> vocabulary logits, one prediction per step.

    Args:
        rnn: built, unidirectional recurrent layer with ``input_size == embedding_dim``
            (a bidirectional layer would read the token it has to predict: ValueError).
        vocab_size: ``V``.
        embedding_dim: ``E``.
        tie_weights: share the output layer's weight with the embedding; needs
            ``embedding_dim == rnn.output_size`` (ValueError otherwise).
        dropout: on the embeddings and on the layer's outputs.
        pad_index: padding token (zero embedding, no gradient), or None.

    AWD-LSTM's regularisers (Merity et al. 2018; docs/regularisation.md), all off by default:

    Args:
        input_dropout: dropout on the embedded tokens; None: ``dropout``.
        output_dropout: dropout on the layer's outputs before the output layer; None:
            ``dropout``.
        variational_dropout: input and output dropout draw one mask per sequence, shared over
            its time steps (:class:`~rnnkit.layers.locked_dropout.LockedDropout`) instead of one
            per step.
        embedding_dropout: probability of dropping a word, i.e. a whole embedding row, in each
            training forward pass (:func:`~rnnkit.patterns.embedding_dropout.embedding_dropout`).
        activation_regularization: ``alpha`` of AR, ``alpha * mean(dropped outputs²)``.
        temporal_activation_regularization: ``beta`` of TAR, ``beta * mean((h_t - h_{t-1})²)``.
            Both are collected in :attr:`activation_penalty`; the training loop adds
            ``model.activation_penalty.take()`` to the loss after each batch's forward passes.

    Example::

        lm = LanguageModel(rnnkit.LSTM(64, 64, num_layers=2, batch_first=True), 10_000, 64,
                           tie_weights=True)
        state = None
        for chunk in chunks:                      # (N, bptt + 1) token ids
            logits, state = lm(chunk[:, :-1], state)
            loss = F.cross_entropy(logits.transpose(1, 2), chunk[:, 1:])
            state = detach_state(state)
        text = lm.generate(prompt, max_new_tokens=50, top_p=0.9)
    """

    def __init__(
        self,
        rnn: Recurrent,
        vocab_size: int,
        embedding_dim: int,
        tie_weights: bool = False,
        dropout: float = 0.0,
        pad_index: int | None = None,
        input_dropout: float | None = None,
        output_dropout: float | None = None,
        variational_dropout: bool = False,
        embedding_dropout: float = 0.0,
        activation_regularization: float = 0.0,
        temporal_activation_regularization: float = 0.0,
    ) -> None:
        super().__init__()
        check_recurrent(rnn, "rnn")
        check_unidirectional(rnn, "rnn")
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("embedding_dim", embedding_dim)
        if rnn.input_size != embedding_dim:
            raise ValueError(
                f"rnn: expected input_size == embedding_dim={embedding_dim}, got "
                f"input_size={rnn.input_size}"
            )
        if tie_weights and embedding_dim != rnn.output_size:
            raise ValueError(
                f"tie_weights: needs embedding_dim == rnn.output_size (the output layer reads "
                f"{rnn.output_size} features and shares the (vocab_size, embedding_dim) "
                f"embedding), got embedding_dim={embedding_dim}"
            )
        if pad_index is not None and not 0 <= pad_index < vocab_size:
            raise ValueError(
                f"pad_index: expected a token id in [0, {vocab_size}), got {pad_index}"
            )
        self.rnn = rnn
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        dropout = check_dropout(dropout)
        inputs = check_dropout(dropout if input_dropout is None else input_dropout, "input_dropout")
        outputs = check_dropout(
            dropout if output_dropout is None else output_dropout, "output_dropout"
        )
        kind = LockedDropout if variational_dropout else nn.Dropout
        self.input_dropout = kind(inputs)
        self.output_dropout = kind(outputs)
        self.embedding_dropout = check_dropout(embedding_dropout, "embedding_dropout")
        self.activation_penalty = ActivationRegularization(
            activation_regularization, temporal_activation_regularization
        )
        self.output = nn.Linear(rnn.output_size, vocab_size)
        if tie_weights:
            self.output.weight = self.embedding.weight

    detach_state = staticmethod(detach_state)

    def forward(
        self,
        tokens: Tensor,
        state: RecurrentState | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, RecurrentState]:
        """Next-token logits for every step.

        Args:
            tokens: ``(N, L)`` long token ids.
            state: the layer's state to start from (``hx`` layout, e.g. the previous chunk's),
                or None for zeros.
            lengths: ``(N,)`` real lengths of a padded batch, or None. Padded steps are never
                computed (their logits are the output bias and must be left out of the loss).

        Returns:
            ``logits (N, L, V)`` and the state after each sequence's last real token, in the
            layer's ``hx`` layout (pass it back as ``state``).
        """
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(
                f"tokens: expected (N, L) long token ids, got {tokens.dtype} of shape "
                f"{tuple(tokens.shape)}"
            )
        if lengths is not None:
            lengths = check_lengths(lengths, tokens.shape[0], tokens.shape[1])
        if self.training and self.embedding_dropout > 0:
            embedded = embedding_dropout(self.embedding, tokens, self.embedding_dropout)
        else:
            embedded = self.embedding(tokens)
        output, state = run_with_state(self.rnn, self.input_dropout(embedded), state, lengths)
        dropped = self.output_dropout(output)
        self.activation_penalty(output, dropped)
        return self.output(dropped), state

    def step(self, tokens: Tensor, state: RecurrentState) -> tuple[Tensor, RecurrentState]:
        """``StepDecoder``: ``tokens (B,)`` -> next-token ``logits (B, V)`` and the new state."""
        logits, state = self(tokens.unsqueeze(1), state)
        return logits.squeeze(1), state

    def reorder_state(self, state: RecurrentState, index: Tensor) -> RecurrentState:
        """``StepDecoder``: select batch entries ``index (B',)`` (dimension 1 of ``hx``)."""
        return select_batch(state, index, dim=1)

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        eos_index: int | None = None,
        state: RecurrentState | None = None,
    ) -> Tensor:
        """Continue ``prompt`` by sampling (or greedy decoding) with the shared decoding functions.

        The prompt is read in one pass of the layer; then each new token is drawn from
        ``softmax(filter_logits(logits / temperature, top_k, top_p))``
        (:func:`~rnnkit.patterns.decoding.sample_decode`), or is the most probable one with
        ``greedy=True`` (then temperature, top_k, top_p and generator must keep their defaults).

        Args:
            prompt: ``(N, P)`` or ``(P,)`` long token ids, ``P >= 1``, the same length for all.
            max_new_tokens: number of tokens to add.
            eos_index: stop a sequence at this token (then padded with it); None never stops.
            state: state before the prompt (e.g. carried from earlier text), or None.

        Returns:
            ``(N, P + W)`` (or ``(P + W,)``) long: the prompt followed by the generated tokens;
            ``W = max_new_tokens`` unless every sequence produced ``eos_index`` earlier.
            Call ``eval()`` first: dropout stays active in training mode.
        """
        unbatched = prompt.dim() == 1
        batch_prompt = prompt.unsqueeze(0) if unbatched else prompt
        if batch_prompt.dim() != 2 or batch_prompt.shape[1] < 1 or prompt.dtype != torch.long:
            raise ValueError(
                f"prompt: expected (N, P) or (P,) long token ids with P >= 1, got {prompt.dtype} "
                f"of shape {tuple(prompt.shape)}"
            )
        check_positive_int("max_new_tokens", max_new_tokens)
        if eos_index is not None and not 0 <= eos_index < self.vocab_size:
            raise ValueError(
                f"eos_index: expected a token id in [0, {self.vocab_size}), got {eos_index}"
            )
        if greedy and (
            temperature != 1.0 or top_k is not None or top_p is not None or generator is not None
        ):
            raise ValueError(
                "greedy: greedy decoding takes no temperature, top_k, top_p or generator; got "
                f"temperature={temperature}, top_k={top_k}, top_p={top_p}, generator="
                f"{generator}"
            )
        batch = batch_prompt.shape[0]
        if batch_prompt.shape[1] > 1:
            _, state = self(batch_prompt[:, :-1], state)
        elif state is None:
            weight = self.embedding.weight
            state = zero_state(self.rnn, batch, dtype=weight.dtype, device=weight.device)
        if eos_index is None:
            decoder, eos = _NeverEnds(self), self.vocab_size  # an extra token never chosen
        else:
            decoder, eos = self, eos_index
        arguments = (decoder, state, batch_prompt[:, -1], eos, max_new_tokens, batch)
        if greedy:
            result = greedy_decode(*arguments)
        else:
            result = sample_decode(*arguments, temperature, top_k, top_p, generator)
        tokens = torch.cat((batch_prompt, result.tokens[:, 0]), dim=1)
        return tokens.squeeze(0) if unbatched else tokens


class _NeverEnds:
    """Adds an impossible end token (logit ``-inf``, index ``V``) so decoding never stops early."""

    def __init__(self, model: LanguageModel) -> None:
        self.model = model

    def step(self, tokens: Tensor, state: RecurrentState) -> tuple[Tensor, RecurrentState]:
        logits, state = self.model.step(tokens, state)
        impossible = logits.new_full((logits.shape[0], 1), float("-inf"))
        return torch.cat((logits, impossible), dim=1), state

    def reorder_state(self, state: RecurrentState, index: Tensor) -> RecurrentState:
        return self.model.reorder_state(state, index)
