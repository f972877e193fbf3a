"""Linear-chain conditional random field (CRF) over tag sequences.

A CRF scores a whole tag sequence ``y`` for emissions ``e`` (one score per step and tag)::

    score(y) = start[y_0] + sum_t e[t, y_t] + sum_{t>=1} transitions[y_{t-1}, y_t] + end[y_last]

and models ``p(y | e) = exp(score(y)) / Z`` with ``Z`` summed over every tag sequence by the forward
algorithm. ``decode`` finds the best sequence with the Viterbi algorithm. Both are vectorised over
the batch and loop over time only.

Transitions can be constrained (BIO / BIOES label schemes, see :func:`allowed_transitions`): a
forbidden transition, start tag or end tag scores :data:`FORBIDDEN_SCORE`, a large negative constant
rather than ``-inf`` so that gradients stay finite.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

FORBIDDEN_SCORE = -1.0e4
"""Score of a forbidden transition: exp(-1e4) is 0 in every float type, yet finite (fp16-safe)."""

_SCHEME_PREFIXES = {"BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
_SCHEME_ALIASES = {"BIO": "BIO", "IOB2": "BIO", "BIOES": "BIOES", "IOBES": "BIOES"}
_REDUCTIONS = ("mean", "sum", "none", "token_mean")


def _parse_label(label: str, scheme: str) -> tuple[str, str]:
    """Split ``"B-PER"`` into ``("B", "PER")`` and ``"O"`` into ``("O", "")``."""
    if label == "O":
        return "O", ""
    prefix, dash, entity = label.partition("-")
    if not dash or not entity or prefix not in _SCHEME_PREFIXES[scheme]:
        expected = ", ".join(f"{p}-X" for p in _SCHEME_PREFIXES[scheme])
        raise ValueError(
            f"labels: {label!r} is not a valid {scheme} label; expected 'O' or one of {expected}"
        )
    return prefix, entity


def _can_start(prefix: str, scheme: str) -> bool:
    return prefix in ("O", "B", "S") if scheme == "BIOES" else prefix != "I"


def _can_end(prefix: str, scheme: str) -> bool:
    return prefix in ("O", "E", "S") if scheme == "BIOES" else True


def _can_follow(previous: tuple[str, str], current: tuple[str, str], scheme: str) -> bool:
    (prev_prefix, prev_entity), (prefix, entity) = previous, current
    if scheme == "BIO":
        return prefix != "I" or (prev_prefix in ("B", "I") and prev_entity == entity)
    if prev_prefix in ("B", "I"):  # BIOES: inside an entity, continue or end the same entity
        return prefix in ("I", "E") and prev_entity == entity
    return prefix in ("O", "B", "S")


def allowed_transitions(
    labels: Sequence[str], scheme: str = "BIO"
) -> tuple[Tensor, Tensor, Tensor]:
    """Which tag transitions a label scheme allows.

    Args:
        labels: the tag names, in tag-index order, e.g. ``["O", "B-PER", "I-PER"]``.
        scheme: ``"BIO"`` (alias ``"IOB2"``) or ``"BIOES"`` (alias ``"IOBES"``).

    Returns:
        ``(allowed (T, T), allowed_start (T,), allowed_end (T,))`` bool tensors, where
        ``allowed[i, j]`` says whether tag ``j`` may follow tag ``i``, and ``allowed_start`` /
        ``allowed_end`` whether a sequence may start / end with a tag.

    Raises:
        ValueError: for an unknown scheme, or a label that is not valid in the scheme.
    """
    if scheme.upper() not in _SCHEME_ALIASES:
        raise ValueError(f"scheme: expected one of {sorted(_SCHEME_ALIASES)}, got {scheme!r}")
    scheme = _SCHEME_ALIASES[scheme.upper()]
    parsed = [_parse_label(label, scheme) for label in labels]
    allowed = torch.tensor([[_can_follow(a, b, scheme) for b in parsed] for a in parsed])
    allowed_start = torch.tensor([_can_start(prefix, scheme) for prefix, _ in parsed])
    allowed_end = torch.tensor([_can_end(prefix, scheme) for prefix, _ in parsed])
    return allowed.reshape(len(parsed), len(parsed)), allowed_start, allowed_end


def _check_mask_shape(name: str, value: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    if value is None:
        return torch.ones(shape, dtype=torch.bool)
    if tuple(value.shape) != shape or value.dtype != torch.bool:
        raise ValueError(
            f"{name}: expected a bool tensor of shape {shape}, "
            f"got {value.dtype} of shape {tuple(value.shape)}"
        )
    return value.clone()


class CRF(nn.Module):
    """Linear-chain CRF layer on top of per-step tag scores (emissions).

    Args:
        num_tags: number of tags ``T``.
        batch_first: if True, inputs are ``(N, L, ...)``; otherwise ``(L, N, ...)``.
        allowed_transitions: optional ``(T, T)`` bool tensor; ``False`` at ``[i, j]`` forbids tag
            ``i`` followed by tag ``j``.
        allowed_start: optional ``(T,)`` bool tensor; ``False`` forbids starting with a tag.
        allowed_end: optional ``(T,)`` bool tensor; ``False`` forbids ending with a tag.

    Parameters:
        start_transitions ``(T,)``, end_transitions ``(T,)`` and transitions ``(T, T)``, where
        ``transitions[i, j]`` scores tag ``i`` followed by tag ``j``.

    Shapes (``batch_first=True``; swap ``N`` and ``L`` otherwise):
        emissions ``(N, L, T)`` float, tags ``(N, L)`` long, mask ``(N, L)`` bool. The mask must
        be a prefix per sequence (``True`` then ``False``) and its first step must be on. Masked
        steps are ignored: their emissions and tags (any value, e.g. ``-100``) never change a
        result.
    """

    def __init__(
        self,
        num_tags: int,
        batch_first: bool = True,
        allowed_transitions: Tensor | None = None,
        allowed_start: Tensor | None = None,
        allowed_end: Tensor | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"num_tags: expected a positive int, got {num_tags!r}")
        self.num_tags = num_tags
        self.batch_first = batch_first
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        shape = (num_tags, num_tags)
        self.register_buffer(
            "transition_mask", _check_mask_shape("allowed_transitions", allowed_transitions, shape)
        )
        self.register_buffer(
            "start_mask", _check_mask_shape("allowed_start", allowed_start, (num_tags,))
        )
        self.register_buffer("end_mask", _check_mask_shape("allowed_end", allowed_end, (num_tags,)))
        self.reset_parameters()

    @classmethod
    def with_constraints(
        cls, labels: Sequence[str], scheme: str = "BIO", batch_first: bool = True
    ) -> CRF:
        """A CRF over ``labels`` that forbids the transitions invalid in ``scheme`` (BIO/BIOES)."""
        allowed, allowed_start, allowed_end = allowed_transitions(labels, scheme)
        return cls(len(labels), batch_first, allowed, allowed_start, allowed_end)

    def reset_parameters(self) -> None:
        for parameter in (self.start_transitions, self.end_transitions, self.transitions):
            nn.init.uniform_(parameter, -0.1, 0.1)

    def extra_repr(self) -> str:
        constrained = not bool(
            self.transition_mask.all() and self.start_mask.all() and self.end_mask.all()
        )
        return (
            f"num_tags={self.num_tags}, batch_first={self.batch_first}, constrained={constrained}"
        )

    def _scores(self, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        """Start ``(T,)``, end ``(T,)`` and transition ``(T, T)`` scores, forbidden ones masked."""
        start = self.start_transitions.to(dtype).masked_fill(~self.start_mask, FORBIDDEN_SCORE)
        end = self.end_transitions.to(dtype).masked_fill(~self.end_mask, FORBIDDEN_SCORE)
        transitions = self.transitions.to(dtype).masked_fill(~self.transition_mask, FORBIDDEN_SCORE)
        return start, end, transitions

    def _prepare(self, emissions: Tensor, tags: Tensor | None, mask: Tensor | None):
        """Validate, move to batch-first and zero the masked emissions; returns (em, tags, mask)."""
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            layout = "(N, L, T)" if self.batch_first else "(L, N, T)"
            raise ValueError(
                f"emissions: expected shape {layout} with T={self.num_tags}, "
                f"got {tuple(emissions.shape)}"
            )
        if emissions.shape[0] == 0 or emissions.shape[1] == 0:
            raise ValueError(f"emissions: expected non-empty N and L, got {tuple(emissions.shape)}")
        if mask is None:
            mask = torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        if tuple(mask.shape) != tuple(emissions.shape[:2]):
            raise ValueError(
                f"mask: expected shape {tuple(emissions.shape[:2])} (the first two dims of "
                f"emissions), got {tuple(mask.shape)}"
            )
        if tags is not None and tuple(tags.shape) != tuple(emissions.shape[:2]):
            raise ValueError(
                f"tags: expected shape {tuple(emissions.shape[:2])} (the first two dims of "
                f"emissions), got {tuple(tags.shape)}"
            )
        if not self.batch_first:
            emissions, mask = emissions.transpose(0, 1), mask.transpose(0, 1)
            tags = None if tags is None else tags.transpose(0, 1)
        mask = mask.bool()
        # Checks on values read the tensors back; skipped under torch.compile (graph breaks).
        checking_values = not torch.compiler.is_compiling()
        if checking_values and not bool(mask[:, 0].all()):
            raise ValueError("mask: expected the first step of every sequence to be on, got off")
        if checking_values and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
            raise ValueError("mask: expected a prefix of True per sequence, got a gap")
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        emissions = emissions.to(dtype).masked_fill(~mask.unsqueeze(-1), 0.0)
        if tags is not None:
            tags = tags.long().masked_fill(~mask, 0)
            if checking_values and bool(((tags < 0) | (tags >= self.num_tags)).any()):
                raise ValueError(
                    f"tags: expected values in [0, {self.num_tags}) at unmasked steps, "
                    f"got min {int(tags.min())} and max {int(tags.max())}"
                )
        return emissions, tags, mask

    def forward(
        self,
        emissions: Tensor,
        tags: Tensor,
        mask: Tensor | None = None,
        reduction: str = "mean",
    ) -> Tensor:
        """Log-likelihood ``log p(tags | emissions)`` (negate it for a loss).

        Args:
            emissions: ``(N, L, T)`` scores per step and tag.
            tags: ``(N, L)`` gold tags (long); values at masked steps are ignored.
            mask: ``(N, L)`` bool, True at real steps; None means every step is real.
            reduction: ``"none"`` gives ``(N,)``; ``"sum"`` and ``"mean"`` reduce over the batch;
                ``"token_mean"`` divides the sum by the number of unmasked steps.

        Returns:
            ``(N,)`` for ``reduction="none"``, else a scalar.
        """
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
        emissions, tags, mask = self._prepare(emissions, tags, mask)
        log_likelihood = self._path_score(emissions, tags, mask) - self._log_partition(
            emissions, mask
        )
        if reduction == "none":
            return log_likelihood
        if reduction == "sum":
            return log_likelihood.sum()
        if reduction == "mean":
            return log_likelihood.mean()
        return log_likelihood.sum() / mask.sum()

    def neg_log_likelihood(
        self,
        emissions: Tensor,
        tags: Tensor,
        mask: Tensor | None = None,
        reduction: str = "mean",
    ) -> Tensor:
        """The loss ``-forward(emissions, tags, mask, reduction)``."""
        return -self.forward(emissions, tags, mask, reduction)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """Unnormalised score of ``tags`` ``(N,)``; shapes as in :meth:`forward`."""
        emissions, tags, mask = self._prepare(emissions, tags, mask)
        return self._path_score(emissions, tags, mask)

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """``log Z``: log-sum-exp of the scores of all tag sequences, ``(N,)``."""
        emissions, _, mask = self._prepare(emissions, None, mask)
        return self._log_partition(emissions, mask)

    def _path_score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        start, end, transitions = self._scores(emissions.dtype)
        emission_score = emissions.gather(2, tags.unsqueeze(2)).squeeze(2).sum(1)
        step_transitions = transitions[tags[:, :-1], tags[:, 1:]].masked_fill(~mask[:, 1:], 0.0)
        last_tags = tags.gather(1, (mask.sum(1, keepdim=True) - 1)).squeeze(1)
        return start[tags[:, 0]] + emission_score + step_transitions.sum(1) + end[last_tags]

    def _log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        start, end, transitions = self._scores(emissions.dtype)
        alpha = start + emissions[:, 0]  # (N, T): log-sum of all prefixes ending in each tag
        for t in range(1, emissions.shape[1]):
            scores = alpha.unsqueeze(2) + transitions + emissions[:, t].unsqueeze(1)  # (N, T, T)
            alpha = torch.where(mask[:, t].unsqueeze(1), torch.logsumexp(scores, dim=1), alpha)
        return torch.logsumexp(alpha + end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Best tag sequences by the Viterbi algorithm.

        Args:
            emissions: ``(N, L, T)`` (``(L, N, T)`` when not ``batch_first``).
            mask: ``(N, L)`` bool, True at real steps; None means every step is real.

        Returns:
            ``(best_tags, best_scores)``: ``(N, L)`` long tags (``(L, N)`` when not
            ``batch_first``), 0 at masked steps, and their ``(N,)`` scores.
        """
        emissions, _, mask = self._prepare(emissions, None, mask)
        start, end, transitions = self._scores(emissions.dtype)
        batch_size, length, _ = emissions.shape
        score = start + emissions[:, 0]  # (N, T): best prefix score ending in each tag
        backpointers = []  # backpointers[t - 1][n, j]: best tag at t - 1 given tag j at t
        for t in range(1, length):
            scores = score.unsqueeze(2) + transitions + emissions[:, t].unsqueeze(1)
            best, backpointer = scores.max(dim=1)
            score = torch.where(mask[:, t].unsqueeze(1), best, score)
            backpointers.append(backpointer)
        best_scores, tag = (score + end).max(dim=1)
        last_step = mask.sum(1) - 1
        best_tags = torch.zeros(batch_size, length, dtype=torch.long, device=emissions.device)
        for t in range(length - 1, 0, -1):
            active = t <= last_step
            best_tags[:, t] = torch.where(active, tag, 0)
            previous = backpointers[t - 1].gather(1, tag.unsqueeze(1)).squeeze(1)
            tag = torch.where(active, previous, tag)
        best_tags[:, 0] = tag
        if not self.batch_first:
            best_tags = best_tags.transpose(0, 1)
        return best_tags, best_scores
