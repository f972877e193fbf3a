"""Many-to-many, aligned: one output per input step (POS tagging, NER), optionally with a CRF."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.layers.recurrent import Recurrent
from rnnkit.patterns._sequence import (
    check_dropout,
    check_input_layer,
    check_lengths,
    check_positive_int,
    check_recurrent,
    mask_from_lengths,
    prepare_inputs,
    run_recurrent,
)
from rnnkit.patterns.crf import CRF

PADDING_TAG = -100
"""Tag that :meth:`SequenceTagger.decode` writes past each length, and that ``loss`` ignores
(torch's ``ignore_index`` default): never a valid tag, so predictions and gold tags padded with
it compare directly."""


class SequenceTagger(nn.Module):
    """Per-step tagger: encoder, dropout and a linear layer giving emission scores per tag.

    ::

        inputs ─▶ input_layer ─▶ rnn ─▶ dropout ─▶ Linear ─▶ emissions ─▶ [CRF]
        (N, L[, F])              (N, L, D*H)                 (N, L, num_tags)

    Without a CRF, tags are predicted independently per step (argmax) and trained with
    token-level cross entropy. With ``crf=True`` a linear-chain :class:`~rnnkit.patterns.crf.CRF`
    scores whole tag sequences: training minimises its negative log-likelihood and
    :meth:`decode` runs Viterbi. ``crf_labels`` with ``crf_scheme`` (``"BIO"`` or ``"BIOES"``)
    forbid the transitions the scheme does not allow (``I-PER`` after ``O`` in BIO...).

    Args:
        rnn: a built :class:`rnnkit.Recurrent`; its ``batch_first`` flag does not matter.
        num_tags: number of tags ``T``.
        input_layer: optional module applied to every step first (e.g. ``nn.Embedding``).
        dropout: dropout probability on the encoder outputs, before the output layer.
        crf: add a CRF on top of the emissions.
        crf_labels: tag names in tag-index order (``len == num_tags``), with ``crf_scheme``;
            requires ``crf=True``.
        crf_scheme: ``"BIO"`` or ``"BIOES"`` (aliases ``"IOB2"``, ``"IOBES"``); requires
            ``crf_labels``.

    Shapes:
        inputs: ``(N, L, F)`` float, ``(N, L)`` token ids with an ``input_layer``, or a
            PackedSequence of either. lengths: optional ``(N,)`` integers in ``[1, L]``.
        tags: ``(N, L)`` long in ``[0, T)`` at real steps; values past the lengths are ignored
            (pad with :data:`PADDING_TAG`). Without a CRF, a real step tagged
            :data:`PADDING_TAG` is ignored by the loss too.

    Attributes:
        output_layer: ``nn.Linear(D * H, num_tags)``; crf: the :class:`CRF` or None.
    """

    def __init__(
        self,
        rnn: Recurrent,
        num_tags: int,
        input_layer: nn.Module | None = None,
        dropout: float = 0.0,
        crf: bool = False,
        crf_labels: Sequence[str] | None = None,
        crf_scheme: str | None = None,
    ) -> None:
        super().__init__()
        check_recurrent(rnn)
        check_positive_int("num_tags", num_tags)
        check_input_layer(input_layer, rnn.input_size)
        if not isinstance(crf, bool):
            raise ValueError(f"crf: expected True or False, got {crf!r}")
        if not crf and (crf_labels is not None or crf_scheme is not None):
            raise ValueError(
                "crf: crf_labels and crf_scheme constrain the CRF and need crf=True, got "
                f"crf=False with crf_labels={crf_labels!r}, crf_scheme={crf_scheme!r}"
            )
        if (crf_labels is None) != (crf_scheme is None):
            missing = "crf_scheme" if crf_scheme is None else "crf_labels"
            raise ValueError(
                f"{missing}: expected crf_labels and crf_scheme together, got only "
                f"{'crf_labels' if missing == 'crf_scheme' else 'crf_scheme'}"
            )
        if crf_labels is not None and len(crf_labels) != num_tags:
            raise ValueError(
                f"crf_labels: expected num_tags={num_tags} labels, one per tag, got "
                f"{len(crf_labels)}: {list(crf_labels)!r}"
            )
        self.input_layer = input_layer
        self.rnn = rnn
        self.num_tags = num_tags
        features = rnn.num_directions * rnn.output_size
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.output_layer = nn.Linear(features, num_tags)
        self.crf: CRF | None = None
        if crf_labels is not None:
            self.crf = CRF.with_constraints(list(crf_labels), crf_scheme, batch_first=True)
        elif crf:
            self.crf = CRF(num_tags, batch_first=True)

    # ---- from inputs ---------------------------------------------------------------------

    def forward(self, inputs: Tensor | PackedSequence, lengths: Tensor | None = None) -> Tensor:
        """Emission scores ``(N, L, num_tags)``, exactly 0 past each sequence's length."""
        batch = prepare_inputs(inputs, lengths, self.input_layer, self.rnn.input_size)
        outputs, _ = run_recurrent(self.rnn, batch.features, batch.lengths)
        emissions = self.output_layer(self.dropout(outputs))
        return emissions.masked_fill(~batch.mask.unsqueeze(-1), 0.0)

    def loss(
        self, inputs: Tensor | PackedSequence, tags: Tensor, lengths: Tensor | None = None
    ) -> Tensor:
        """Scalar training loss, averaged over the real (unpadded) tokens of the batch.

        Without a CRF: token-level cross entropy. With a CRF: the negative log-likelihood of
        each tag sequence, summed over sequences and divided by the number of real tokens,
        so that switching the CRF on keeps the loss on the same per-token scale.
        """
        emissions = self(inputs, lengths)
        return self.loss_from_emissions(emissions, tags, _lengths_of(inputs, lengths))

    @torch.no_grad()
    def decode(self, inputs: Tensor | PackedSequence, lengths: Tensor | None = None) -> Tensor:
        """Best tags ``(N, L)`` long: argmax per step, or Viterbi with a CRF.

        Steps past each length hold :data:`PADDING_TAG` (-100).
        """
        emissions = self(inputs, lengths)
        return self.decode_from_emissions(emissions, _lengths_of(inputs, lengths))

    # ---- from emissions (one forward for both loss and predictions) -----------------------

    def loss_from_emissions(
        self, emissions: Tensor, tags: Tensor, lengths: Tensor | None = None
    ) -> Tensor:
        """:meth:`loss` for emissions ``(N, L, T)`` already computed by ``forward``."""
        mask = self._mask(emissions, lengths)
        tags = self._check_tags(tags, emissions, mask)
        if self.crf is None:
            return F.cross_entropy(
                emissions.reshape(-1, self.num_tags),
                tags.masked_fill(~mask, PADDING_TAG).reshape(-1),
                ignore_index=PADDING_TAG,
            )
        return -self.crf(emissions, tags.masked_fill(~mask, 0), mask, reduction="token_mean")

    @torch.no_grad()
    def decode_from_emissions(self, emissions: Tensor, lengths: Tensor | None = None) -> Tensor:
        """:meth:`decode` for emissions ``(N, L, T)`` already computed by ``forward``."""
        mask = self._mask(emissions, lengths)
        if self.crf is None:
            tags = emissions.argmax(-1)
        else:
            tags, _ = self.crf.decode(emissions, mask)
        return tags.masked_fill(~mask, PADDING_TAG)

    # ---- checks ---------------------------------------------------------------------------

    def _mask(self, emissions: Tensor, lengths: Tensor | None) -> Tensor:
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(
                f"emissions: expected shape (N, L, {self.num_tags}) = (N, L, num_tags), got "
                f"{tuple(emissions.shape)}"
            )
        batch_size, max_length = emissions.shape[:2]
        if lengths is None:
            return torch.ones(batch_size, max_length, dtype=torch.bool, device=emissions.device)
        lengths = check_lengths(lengths, batch_size, max_length)
        return mask_from_lengths(lengths.to(emissions.device), max_length)

    def _check_tags(self, tags: Tensor, emissions: Tensor, mask: Tensor) -> Tensor:
        if not isinstance(tags, Tensor) or tags.dtype.is_floating_point or tags.dtype == torch.bool:
            kind = tags.dtype if isinstance(tags, Tensor) else type(tags).__name__
            raise ValueError(f"tags: expected an integer tensor, got {kind}")
        if tuple(tags.shape) != tuple(emissions.shape[:2]):
            raise ValueError(
                f"tags: expected shape {tuple(emissions.shape[:2])} = (N, L) of the inputs, "
                f"got {tuple(tags.shape)}"
            )
        tags = tags.long().to(emissions.device)
        real = tags[mask]
        valid = (real >= 0) & (real < self.num_tags)
        if self.crf is None:
            valid |= real == PADDING_TAG
        if not bool(valid.all()):
            allowed = f"[0, {self.num_tags})" + ("" if self.crf else f" or {PADDING_TAG}")
            raise ValueError(
                f"tags: expected values in {allowed} at real steps, got "
                f"{sorted(set(real[~valid].tolist()))[:5]}"
            )
        return tags

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"


def _lengths_of(inputs: Tensor | PackedSequence, lengths: Tensor | None) -> Tensor | None:
    """Lengths of a padded batch, read from a PackedSequence when it is one."""
    if isinstance(inputs, PackedSequence):
        sorted_lengths = _packed_lengths(inputs.batch_sizes)
        if inputs.unsorted_indices is not None:
            return sorted_lengths[inputs.unsorted_indices.cpu()]
        return sorted_lengths
    return lengths


def _packed_lengths(batch_sizes: Tensor) -> Tensor:
    """Lengths, in sorted order, of the sequences of a PackedSequence's ``batch_sizes``."""
    batch = int(batch_sizes[0])
    steps = torch.arange(batch).unsqueeze(1) < batch_sizes.cpu().unsqueeze(0)
    return steps.sum(1)
