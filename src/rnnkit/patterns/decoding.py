"""Autoregressive decoding written once: greedy, sampling and batched beam search.

Any model that implements :class:`StepDecoder` (encoder-decoder, one-to-many, language model) can
be decoded with :func:`greedy_decode`, :func:`sample_decode` or :func:`beam_search`. The model owns
its state (hidden states, attention memory, a step counter, ...) and only has to run one step and
select batch entries of that state.

Every function returns a :class:`DecodeResult`. Scores are sums of the model's log-probabilities
(``log_softmax`` of its logits, before any temperature or filtering), so greedy, sampling and beam
scores are comparable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor


class StepDecoder(Protocol):
    """What a model implements to be decoded.

    ``state`` is any nested structure (tuple, list, dict) of tensors; each tensor may keep its
    batch dimension where it likes (e.g. ``(num_layers, B, H)`` for a GRU hidden state).
    """

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One step: ``tokens (B,)`` long and the previous state -> ``(logits (B, V), state)``."""
        ...

    def reorder_state(self, state: Any, index: Tensor) -> Any:
        """Select, reorder or repeat batch entries: entry ``i`` of the result is ``index[i]``.

        ``index`` is ``(B',)`` long; ``B'`` may differ from the current batch size.
        """
        ...


@dataclass
class DecodeResult:
    """Decoded hypotheses, ``n_best`` per example (1 for greedy and sampling).

    Attributes:
        tokens: ``(B, n_best, W)`` long generated tokens, without bos, with the eos if one was
            produced, padded with eos; ``W`` is the longest returned hypothesis.
        lengths: ``(B, n_best)`` long, number of generated tokens including the eos.
        scores: ``(B, n_best)`` float, sum of the model's log-probabilities of the tokens.
        normalized_scores: ``(B, n_best)`` float, the score used for ranking: for beam search
            ``scores / lengths ** length_penalty``; for greedy and sampling equal to ``scores``.
    """

    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    normalized_scores: Tensor


def select_batch(state: Any, index: Tensor, dim: int = 0) -> Any:
    """``index_select(dim, index)`` on every tensor of a nested tuple/namedtuple/list/dict state.

    A ready-made :meth:`StepDecoder.reorder_state` for states whose tensors all keep their batch
    in dimension ``dim``; other leaves (None, ints) are returned unchanged.
    """
    if isinstance(state, Tensor):
        return state.index_select(dim, index.to(state.device))
    if isinstance(state, dict):
        return {key: select_batch(value, index, dim) for key, value in state.items()}
    if isinstance(state, (tuple, list)):
        values = [select_batch(value, index, dim) for value in state]
        return type(state)(*values) if hasattr(state, "_fields") else type(state)(values)
    return state


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Keep the ``top_k`` largest logits, then the nucleus of probability ``top_p``.

    Args:
        logits: ``(..., V)``.
        top_k: keep the ``k`` largest logits per row (ties with the k-th are kept); None keeps all.
        top_p: keep the smallest set of most probable tokens whose probability sums to at least
            ``top_p`` (always at least one token); None or 1.0 keeps all.

    Returns:
        ``(..., V)``: ``logits`` with the removed entries set to ``-inf``.
    """
    _check_top_k_top_p(top_k, top_p)
    if top_k is not None and top_k < logits.shape[-1]:
        kth_largest = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        sorted_probs = sorted_logits.softmax(dim=-1)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        remove_sorted = mass_before >= top_p  # the set before this token already reaches top_p
        remove = remove_sorted.scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def greedy_decode(
    decoder: StepDecoder,
    state: Any,
    bos: int | Tensor,
    eos: int,
    max_length: int,
    batch_size: int,
) -> DecodeResult:
    """Pick the most probable token at every step until eos or ``max_length`` tokens.

    Args:
        decoder: the model (see :class:`StepDecoder`); ``state`` is its initial state for
            ``batch_size`` examples.
        bos: first input token, an int or a ``(B,)`` long tensor.
        eos: the end token; a finished example is padded with it.
        max_length: the most tokens generated per example (eos included).

    Returns:
        :class:`DecodeResult` with ``n_best = 1``.
    """
    return _decode_one_path(
        decoder, state, bos, eos, max_length, batch_size, lambda log_probs: log_probs.argmax(-1)
    )


def sample_decode(
    decoder: StepDecoder,
    state: Any,
    bos: int | Tensor,
    eos: int,
    max_length: int,
    batch_size: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> DecodeResult:
    """Sample each token from ``softmax(filter_logits(logits / temperature, top_k, top_p))``.

    Arguments as in :func:`greedy_decode`, plus ``temperature > 0``, ``top_k >= 1``,
    ``top_p`` in ``(0, 1]`` and a ``generator`` for reproducible draws. Scores are the model's
    log-probabilities, without temperature or filtering.
    """
    if not temperature > 0:
        raise ValueError(f"temperature: expected a value > 0, got {temperature!r}")
    _check_top_k_top_p(top_k, top_p)

    def choose(log_probs: Tensor) -> Tensor:  # softmax(log_probs / t) == softmax(logits / t)
        probs = filter_logits(log_probs / temperature, top_k, top_p).softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _decode_one_path(decoder, state, bos, eos, max_length, batch_size, choose)


def beam_search(
    decoder: StepDecoder,
    state: Any,
    bos: int | Tensor,
    eos: int,
    max_length: int,
    batch_size: int,
    beam_size: int = 5,
    length_penalty: float = 1.0,
    n_best: int = 1,
) -> DecodeResult:
    """Batched beam search: the ``B * beam_size`` hypotheses go through one ``step`` per time step.

    At each step every live hypothesis is extended by every token; per example the candidates are
    ranked by summed log-probability. Candidates ending in eos and ranked within the first
    ``beam_size`` become finished hypotheses (never extended again); the best ``beam_size`` other
    candidates stay live. An example is done once it has ``beam_size`` finished hypotheses (so
    ``beam_size=1`` is exactly greedy decoding); at ``max_length`` its live hypotheses are finished
    without eos. Finished hypotheses are ranked by the length-normalised score
    ``score / length ** length_penalty`` (simple length normalisation; ``length_penalty=0`` ranks
    by raw log-probability, 1 by mean log-probability per token).

    The first step expands one hypothesis per example: the state is repeated ``beam_size`` times
    but only the first copy starts with score 0, the others with ``-inf``.

    Arguments as in :func:`greedy_decode`, plus ``beam_size >= 1``, ``length_penalty >= 0`` and
    ``1 <= n_best <= beam_size``. If an example has fewer than ``n_best`` possible hypotheses
    (tiny vocabularies), the missing ones have length 0 and score ``-inf``.

    Returns:
        :class:`DecodeResult`; hypotheses sorted by ``normalized_scores``, best first.
    """
    if not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size: expected an int >= 1, got {beam_size!r}")
    if not isinstance(n_best, int) or not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best: expected an int in [1, beam_size={beam_size}], got {n_best!r}")
    if not length_penalty >= 0:
        raise ValueError(f"length_penalty: expected a value >= 0, got {length_penalty!r}")
    tokens = _start_tokens(bos, batch_size, max_length, state)
    B, K, device = batch_size, beam_size, tokens.device
    state = decoder.reorder_state(state, torch.arange(B, device=device).repeat_interleave(K))
    tokens = tokens.repeat_interleave(K)
    beam_scores = torch.full((B, K), float("-inf"), device=device)
    beam_scores[:, 0] = 0.0
    history = torch.empty(B, K, 0, dtype=torch.long, device=device)  # live hypotheses' tokens
    finished: list[list[tuple[float, float, list[int]]]] = [[] for _ in range(B)]
    done = [False] * B
    batch_offset = torch.arange(B, device=device).unsqueeze(1) * K  # (B, 1)
    for _ in range(max_length):
        logits, state = decoder.step(tokens, state)
        log_probs = _log_probs(logits, B * K, eos).view(B, K, -1)
        vocab_size = log_probs.shape[-1]
        candidates = (beam_scores.unsqueeze(2) + log_probs).view(B, K * vocab_size)
        top_scores, top_index = candidates.topk(min(2 * K, K * vocab_size), dim=1)  # sorted
        origin, top_tokens = top_index // vocab_size, top_index % vocab_size
        is_eos = top_tokens == eos
        ranked_in_beam = torch.arange(top_scores.shape[1], device=device) < K
        new_finished = is_eos & ranked_in_beam & top_scores.isfinite()
        if bool(new_finished.any()):
            prefixes, origins, scores = history.tolist(), origin.tolist(), top_scores.tolist()
            for b, rank in new_finished.nonzero().tolist():
                if not done[b]:
                    prefix = prefixes[b][origins[b][rank]]
                    finished[b].append(_hypothesis(prefix + [eos], scores[b][rank], length_penalty))
        # The live beams: the best K candidates that do not end in eos (-inf pads when too few).
        live_scores, live_rank = top_scores.masked_fill(is_eos, float("-inf")).topk(K, dim=1)
        origin, tokens = origin.gather(1, live_rank), top_tokens.gather(1, live_rank)
        flat_origin = (batch_offset + origin).view(-1)
        length = history.shape[2]
        kept_history = history.reshape(B * K, length)[flat_origin].view(B, K, length)
        history = torch.cat([kept_history, tokens.unsqueeze(2)], dim=2)
        beam_scores, tokens = live_scores, tokens.view(-1)
        any_live = live_scores.isfinite().any(1).tolist()
        done = [d or len(f) >= K or not live for d, f, live in zip(done, finished, any_live)]
        if all(done):
            break
        state = decoder.reorder_state(state, flat_origin)
    prefixes, scores = history.tolist(), beam_scores.tolist()
    for b in range(B):
        if not done[b]:  # reached max_length: finish the live hypotheses without eos
            for prefix, score in zip(prefixes[b], scores[b]):
                if score > float("-inf"):
                    finished[b].append(_hypothesis(prefix, score, length_penalty))
    return _pack_hypotheses(finished, n_best, eos, device)


def _hypothesis(
    tokens: list[int], score: float, length_penalty: float
) -> tuple[float, float, list[int]]:
    """A finished hypothesis: ``(normalized score, score, tokens)``."""
    return score / len(tokens) ** length_penalty, score, tokens


def _pack_hypotheses(
    finished: list[list[tuple[float, float, list[int]]]],
    n_best: int,
    eos: int,
    device: torch.device,
) -> DecodeResult:
    """Sort each example's finished hypotheses and pad the best ``n_best`` into tensors."""
    best = [sorted(hyps, key=lambda hyp: hyp[0], reverse=True)[:n_best] for hyps in finished]
    width = max((len(hyp[2]) for hyps in best for hyp in hyps), default=0)
    B = len(finished)
    tokens = torch.full((B, n_best, max(width, 1)), eos, dtype=torch.long)
    lengths = torch.zeros(B, n_best, dtype=torch.long)
    scores = torch.full((B, n_best), float("-inf"))
    normalized = torch.full((B, n_best), float("-inf"))
    for b, hyps in enumerate(best):
        for n, (norm, raw, seq) in enumerate(hyps):
            tokens[b, n, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            lengths[b, n], scores[b, n], normalized[b, n] = len(seq), raw, norm
    return DecodeResult(
        tokens.to(device), lengths.to(device), scores.to(device), normalized.to(device)
    )


def _decode_one_path(
    decoder: StepDecoder,
    state: Any,
    bos: int | Tensor,
    eos: int,
    max_length: int,
    batch_size: int,
    choose: Callable[[Tensor], Tensor],
) -> DecodeResult:
    """The loop shared by greedy and sampling: ``choose(log_probs (B, V)) -> tokens (B,)``."""
    tokens = _start_tokens(bos, batch_size, max_length, state)
    device = tokens.device
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    scores = torch.zeros(batch_size, device=device)
    outputs = []
    for _ in range(max_length):
        logits, state = decoder.step(tokens, state)
        log_probs = _log_probs(logits, batch_size, eos)
        tokens = torch.where(finished, eos, choose(log_probs))
        token_log_probs = log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1)
        scores = scores + token_log_probs.masked_fill(finished, 0.0)
        lengths = lengths + (~finished).long()
        outputs.append(tokens)
        finished = finished | (tokens == eos)
        if bool(finished.all()):
            break
    tokens = torch.stack(outputs, dim=1).unsqueeze(1)
    return DecodeResult(tokens, lengths.unsqueeze(1), scores.unsqueeze(1), scores.unsqueeze(1))


def _log_probs(logits: Tensor, batch_size: int, eos: int) -> Tensor:
    """Validate one step's ``logits (B, V)`` and return their float32 log-softmax."""
    if logits.dim() != 2 or logits.shape[0] != batch_size:
        raise ValueError(
            f"logits: expected decoder.step to return shape ({batch_size}, V), "
            f"got {tuple(logits.shape)}"
        )
    if not 0 <= eos < logits.shape[1]:
        raise ValueError(f"eos: expected a token id in [0, {logits.shape[1]}), got {eos}")
    return F.log_softmax(logits.float(), dim=-1)


def _start_tokens(bos: int | Tensor, batch_size: int, max_length: int, state: Any) -> Tensor:
    """Validate the shared arguments and return the first input tokens ``(B,)``."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length: expected an int >= 1, got {max_length!r}")
    if isinstance(bos, Tensor):
        if tuple(bos.shape) != (batch_size,):
            raise ValueError(
                f"bos: expected an int or a tensor of shape ({batch_size},), "
                f"got shape {tuple(bos.shape)}"
            )
        return bos.long()
    return torch.full((batch_size,), bos, dtype=torch.long, device=_state_device(state))


def _state_device(state: Any) -> torch.device:
    """The device of the first tensor in a nested state (CPU if it holds none)."""
    if isinstance(state, Tensor):
        return state.device
    values = state.values() if isinstance(state, dict) else state
    if isinstance(values, (tuple, list)) or isinstance(state, dict):
        for value in values:
            if isinstance(value, (Tensor, tuple, list, dict)):
                return _state_device(value)
    return torch.device("cpu")


def _check_top_k_top_p(top_k: int | None, top_p: float | None) -> None:
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k: expected None or an int >= 1, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p: expected None or a value in (0, 1], got {top_p!r}")
