"""Many-to-many without alignment: a CTC head (speech recognition, handwriting).

The input has many more steps than the output has labels, and which step produces which
label is unknown. Connectionist temporal classification (Graves et al. 2006) lets the
network emit one distribution per (sub-sampled) input step over the labels plus a *blank*,
and trains it on the sum over every alignment that collapses to the target
(:class:`torch.nn.CTCLoss`); decoding collapses paths back to labellings
(:mod:`rnnkit.patterns.ctc_decoding`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers.recurrent import Recurrent
from rnnkit.patterns._sequence import (
    check_dropout,
    check_lengths,
    check_positive_int,
    check_recurrent,
    mask_from_lengths,
    run_recurrent,
)
from rnnkit.patterns.ctc_decoding import (
    CTCHypothesis,
    CTCLexicon,
    ctc_greedy_decode,
    ctc_prefix_beam_search,
)

DECODERS = ("greedy", "beam")


class CTCOutput(NamedTuple):
    """``log_probs (N, T', C)`` (log-softmax over labels, blank included) and ``lengths (N,)``
    (real output steps, ``ceil(length / subsampling)``)."""

    log_probs: Tensor
    lengths: Tensor


class CTC(nn.Module):
    """Recurrent encoder and a linear layer to label log-probabilities, trained with CTC.

    ::

        features ─▶ stack k frames ─▶ rnn ─▶ dropout ─▶ Linear ─▶ log_softmax
        (N, T, F)   (N, T/k, k*F)         (N, T/k, D*H)         (N, T/k, C)

    Time subsampling by ``k`` concatenates each ``k`` consecutive frames into one step (frames
    past a sequence's length, and the last group's missing frames, are zeros), so the
    recurrent layer runs ``k`` times fewer steps (Sak et al. 2015). The output needs at least
    as many steps as the target has labels, plus one per doubled label; a target that cannot
    fit gives an infinite loss, which is zeroed (``zero_infinity``) rather than allowed to
    poison training.

    Args:
        rnn: a built :class:`rnnkit.Recurrent` (any cell, bidirectional or not) whose
            ``input_size`` is ``subsampling * F``.
        num_labels: ``C``, the labels including the blank.
        blank: index of the blank label.
        subsampling: ``k``, frames stacked per recurrent step.
        dropout: dropout on the encoder outputs, before the output layer.

    Shapes:
        features: ``(N, T, F)`` float; lengths: optional ``(N,)`` in ``[1, T]``.
        targets: ``(N, S)`` long in ``[0, C)`` without the blank, padded past
        ``target_lengths (N,)`` with anything.
    """

    def __init__(
        self,
        rnn: Recurrent,
        num_labels: int,
        blank: int = 0,
        subsampling: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_recurrent(rnn)
        check_positive_int("num_labels", num_labels)
        check_positive_int("subsampling", subsampling)
        if num_labels < 2:
            raise ValueError(
                f"num_labels: expected the blank and at least one label, got {num_labels}"
            )
        if isinstance(blank, bool) or not isinstance(blank, int) or not 0 <= blank < num_labels:
            raise ValueError(f"blank: expected an index in [0, {num_labels}), got {blank!r}")
        if rnn.input_size % subsampling:
            raise ValueError(
                f"subsampling: rnn.input_size={rnn.input_size} must be subsampling * F, "
                f"not divisible by subsampling={subsampling}"
            )
        self.rnn = rnn
        self.num_labels = num_labels
        self.blank = blank
        self.subsampling = subsampling
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.output_layer = nn.Linear(rnn.num_directions * rnn.output_size, num_labels)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Output steps of inputs of ``lengths`` steps: ``ceil(lengths / subsampling)``."""
        return torch.div(lengths + self.subsampling - 1, self.subsampling, rounding_mode="floor")

    def stack_frames(self, features: Tensor) -> Tensor:
        """``(N, T, F)`` -> ``(N, ceil(T / k), k * F)``: consecutive frames side by side."""
        batch, steps, size = features.shape
        k = self.subsampling
        if k == 1:
            return features
        padded = F.pad(features, (0, 0, 0, (-steps) % k))
        return padded.reshape(batch, padded.shape[1] // k, k * size)

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> CTCOutput:
        """Label log-probabilities per output step; rows past each length are zero."""
        if not isinstance(features, Tensor) or features.dim() != 3:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features)
            raise ValueError(f"features: expected shape (N, T, F), got {shape}")
        batch, steps, size = features.shape
        if size * self.subsampling != self.rnn.input_size:
            raise ValueError(
                f"features: expected F = rnn.input_size / subsampling = "
                f"{self.rnn.input_size // self.subsampling}, got {size}"
            )
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        lengths = check_lengths(lengths, batch, steps).cpu()
        if self.subsampling > 1:  # the last group of a sequence must not see its padding
            real = mask_from_lengths(lengths.to(features.device), steps)
            features = features.masked_fill(~real.unsqueeze(-1), 0.0)
        stacked = self.stack_frames(features)
        out_lengths = self.output_lengths(lengths)
        outputs, _ = run_recurrent(self.rnn, stacked, out_lengths)
        log_probs = self.output_layer(self.dropout(outputs)).log_softmax(-1)
        mask = mask_from_lengths(out_lengths.to(log_probs.device), log_probs.shape[1])
        return CTCOutput(log_probs.masked_fill(~mask.unsqueeze(-1), 0.0), out_lengths)

    def loss_from_output(
        self, output: CTCOutput, targets: Tensor, target_lengths: Tensor
    ) -> Tensor:
        """Mean over the batch of each sequence's CTC loss divided by its target length
        (:class:`torch.nn.CTCLoss`'s ``reduction="mean"``)."""
        target_lengths = torch.as_tensor(target_lengths).reshape(-1).long()
        if targets.dim() != 2 or target_lengths.numel() != targets.shape[0]:
            raise ValueError(
                f"targets: expected (N, S) with target_lengths (N,), got "
                f"{tuple(targets.shape)} and {tuple(target_lengths.shape)}"
            )
        if bool((target_lengths < 1).any()) or bool((target_lengths > targets.shape[1]).any()):
            raise ValueError(
                f"target_lengths: expected values in [1, {targets.shape[1]}], got "
                f"{target_lengths.tolist()}"
            )
        return F.ctc_loss(
            output.log_probs.transpose(0, 1),
            targets.long(),
            output.lengths.cpu(),
            target_lengths.cpu(),
            blank=self.blank,
            reduction="mean",
            zero_infinity=True,
        )

    def loss(
        self,
        features: Tensor,
        targets: Tensor,
        target_lengths: Tensor,
        lengths: Tensor | None = None,
    ) -> Tensor:
        """:meth:`loss_from_output` of :meth:`forward`."""
        return self.loss_from_output(self(features, lengths), targets, target_lengths)

    @torch.no_grad()
    def decode(
        self,
        output: CTCOutput,
        method: str = "greedy",
        beam_size: int = 8,
        min_label_prob: float = 0.0,
        lexicon: CTCLexicon | None = None,
    ) -> list[CTCHypothesis]:
        """Labellings of an output: ``method`` greedy (best path) or beam (prefix beam search
        of ``beam_size``, labels under ``min_label_prob`` at a step not tried, spelling only
        the words of ``lexicon`` when given)."""
        if lexicon is not None and method != "beam":
            raise ValueError(f"lexicon: needs method 'beam', got {method!r}")
        if method == "greedy":
            return ctc_greedy_decode(output.log_probs, output.lengths, self.blank)
        if method == "beam":
            return ctc_prefix_beam_search(
                output.log_probs, output.lengths, beam_size, self.blank, min_label_prob, lexicon
            )
        raise ValueError(f"method: expected one of {DECODERS}, got {method!r}")

    def extra_repr(self) -> str:
        return f"num_labels={self.num_labels}, blank={self.blank}, subsampling={self.subsampling}"
