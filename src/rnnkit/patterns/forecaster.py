"""Multi-step time-series forecasting: a history ``(N, L, F)`` -> the next ``horizon`` steps.

Two strategies (Taieb et al. 2012 name them "direct" / "recursive"):

* ``"direct"``: a linear head maps the encoder's summary (top layer's final hidden state, both
  directions) and the flattened known-future covariates to all ``horizon * num_targets`` values
  at once. No error accumulates over the horizon; steps do not see each other's predictions.
* ``"autoregressive"``: a :class:`~rnnkit.patterns.bridge.Bridge` initialises a decoder layer from
  the encoder's final state; at horizon step ``h`` the decoder reads ``[y_{h-1}; covariates_h]``
  and a linear head predicts ``y_h``. ``y_{-1}`` is the last observed value of the target
  features of the history; later ``y_{h-1}`` is the model's own prediction (gradients flow
  through it), or the ground truth when teacher-forced (per step and example, with probability
  ``teacher_forcing_ratio``). With ratio 1 the decoder runs over the whole horizon in one call.

Two options from the forecasting literature, for either strategy where they apply:

* ``segment_length=s`` (direct only; SegRNN, Lin et al. 2023): the history is cut into
  ``L / s`` segments of ``s`` steps, each flattened into one encoder step of ``s * F`` values,
  so the recurrence runs ``s`` times fewer steps and each step sees a whole segment.
* ``highway_length=q`` (LSTNet's autoregressive component, Lai et al. 2018): a linear map from
  each target's last ``q`` observed values to its ``horizon`` future values, shared by the
  targets, is added to the network's forecast: the linear part of the series is fitted
  directly and the recurrent network models what is left.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.layers.recurrent import Recurrent
from rnnkit.patterns._sequence import (
    SequenceBatch,
    check_positive_int,
    check_recurrent,
    last_from_state,
    prepare_inputs,
    run_recurrent,
)
from rnnkit.patterns.bridge import Bridge, run_with_state
from rnnkit.patterns.seq2seq import check_teacher_forcing_ratio
from rnnkit.patterns.teacher_forcing import use_teacher_forcing

STRATEGIES = ("direct", "autoregressive")


class Forecaster(nn.Module):
    """Predict ``(N, horizon, num_targets)`` from a history ``(N, L, encoder.input_size)``.

    Args:
        encoder: built recurrent layer over the history (any cell, bidirectional and stacked
            allowed); its ``input_size`` is the number of history features ``F``.
        horizon: number of future steps, >= 1.
        num_targets: number of predicted variables per step.
        strategy: ``"direct"`` or ``"autoregressive"`` (see the module docstring).
        decoder: built, unidirectional layer with ``input_size = num_targets + num_covariates``;
            required for ``"autoregressive"``, must be None for ``"direct"``.
        num_covariates: ``C``, known-future covariates per horizon step (calendar features,
            planned prices...), given to ``forward`` as ``future_covariates (N, horizon, C)``.
        target_indices: which of the ``F`` history features are the targets, in the order of
            the predictions (default ``0 .. num_targets - 1``); the autoregressive decoder starts
            from their last observed values and the highway reads them. Autoregressive or
            highway only.
        segment_length: ``s``: the encoder reads segments of ``s`` steps, so its input_size is
            ``s * F`` and the history length must be a multiple of ``s``. Direct only; None
            reads one step at a time.
        highway_length: ``q``: add a linear map from each target's last ``q`` values to its
            forecast (histories must have at least ``q`` steps); None adds none.

    Example::

        model = Forecaster(rnnkit.GRU(3, 32, batch_first=True), horizon=24, num_targets=1,
                           strategy="autoregressive", decoder=rnnkit.GRU(1 + 2, 32),
                           num_covariates=2)
        prediction = model(history, future_covariates, target=y, teacher_forcing_ratio=0.5)
    """

    def __init__(
        self,
        encoder: Recurrent,
        horizon: int,
        num_targets: int = 1,
        strategy: str = "direct",
        decoder: Recurrent | None = None,
        num_covariates: int = 0,
        target_indices: Sequence[int] | None = None,
        segment_length: int | None = None,
        highway_length: int | None = None,
    ) -> None:
        super().__init__()
        check_recurrent(encoder, "encoder")
        check_positive_int("horizon", horizon)
        check_positive_int("num_targets", num_targets)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {STRATEGIES}, got {strategy!r}")
        if isinstance(num_covariates, bool) or not isinstance(num_covariates, int):
            raise ValueError(f"num_covariates: expected an int >= 0, got {num_covariates!r}")
        if num_covariates < 0:
            raise ValueError(f"num_covariates: expected an int >= 0, got {num_covariates}")
        for name, value in (("segment_length", segment_length), ("highway_length", highway_length)):
            if value is not None:
                check_positive_int(name, value)
        self.encoder = encoder
        self.horizon = horizon
        self.num_targets = num_targets
        self.strategy = strategy
        self.num_covariates = num_covariates
        self.segment_length = segment_length
        self.highway_length = highway_length
        self.num_features = encoder.input_size
        if segment_length is not None:
            if strategy != "direct":
                raise ValueError(
                    f"segment_length: only used by strategy='direct' (the autoregressive "
                    f"decoder steps one value at a time); got segment_length={segment_length}"
                )
            if encoder.input_size % segment_length:
                raise ValueError(
                    f"segment_length: the encoder reads segment_length * features values per "
                    f"step; its input_size={encoder.input_size} is not a multiple of "
                    f"segment_length={segment_length}"
                )
            self.num_features = encoder.input_size // segment_length
        self.highway = None if highway_length is None else nn.Linear(highway_length, horizon)
        if strategy == "direct":
            if decoder is not None:
                raise ValueError(
                    "decoder: only used by strategy='autoregressive'; leave it None for 'direct'"
                )
            if target_indices is not None and highway_length is None:
                raise ValueError(
                    "target_indices: only used by strategy='autoregressive' (it seeds the "
                    "decoder) or with highway_length; leave it None for 'direct'"
                )
            summary_size = encoder.num_directions * encoder.state_size[0]
            self.head = nn.Linear(summary_size + horizon * num_covariates, horizon * num_targets)
            self.decoder, self.bridge = None, None
        else:
            if decoder is None:
                raise ValueError("decoder: required for strategy='autoregressive', got None")
            check_recurrent(decoder, "decoder")
            if decoder.input_size != num_targets + num_covariates:
                raise ValueError(
                    f"decoder: expected input_size = num_targets + num_covariates = "
                    f"{num_targets} + {num_covariates}, got input_size={decoder.input_size}"
                )
            self.bridge = Bridge(encoder, decoder)
            self.decoder = decoder
            self.head = nn.Linear(decoder.output_size, num_targets)
        if strategy == "direct" and highway_length is None:
            self.target_indices = None
            return
        indices = tuple(range(num_targets)) if target_indices is None else tuple(target_indices)
        if len(indices) != num_targets or not all(
            isinstance(i, int) and 0 <= i < self.num_features for i in indices
        ):
            raise ValueError(
                f"target_indices: expected {num_targets} (num_targets) feature indices in "
                f"[0, {self.num_features}), got {target_indices!r}"
            )
        self.register_buffer("target_indices", torch.tensor(indices), persistent=False)

    def forward(
        self,
        history: Tensor,
        future_covariates: Tensor | None = None,
        target: Tensor | None = None,
        teacher_forcing_ratio: float = 0.0,
        lengths: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Forecast the ``horizon`` steps after each history.

        Args:
            history: ``(N, L, F)`` past observations (``F = encoder.input_size``).
            future_covariates: ``(N, horizon, C)``; required iff ``num_covariates > 0``.
            target: ``(N, horizon, num_targets)`` true future, needed when
                ``teacher_forcing_ratio > 0`` (autoregressive). The direct strategy has no
                decoder inputs to force and does not read it.
            teacher_forcing_ratio: autoregressive only: per step and example, probability of
                feeding the true previous value instead of the prediction (training).
            lengths: ``(N,)`` real history lengths (right-padded histories), or None.
            generator: for reproducible teacher-forcing draws.

        Returns:
            ``(N, horizon, num_targets)``.
        """
        check_teacher_forcing_ratio(teacher_forcing_ratio)
        batch = prepare_inputs(history, lengths, None, self.num_features)
        size = batch.features.shape[0]
        covariates = self._check_covariates(future_covariates, size)
        highway = None if self.highway is None else self._highway(batch)
        _, final_state = run_recurrent(self.encoder, self._segments(batch), batch.lengths)
        if self.strategy == "direct":
            summary = last_from_state(final_state, self.encoder.num_directions)
            if covariates is not None:
                summary = torch.cat((summary, covariates.flatten(1)), dim=1)
            forecast = self.head(summary).view(size, self.horizon, self.num_targets)
            return forecast if highway is None else forecast + highway

        expected = (size, self.horizon, self.num_targets)
        if target is not None and tuple(target.shape) != expected:
            raise ValueError(
                f"target: expected shape {expected} (N, horizon, num_targets), got "
                f"{tuple(target.shape)}"
            )
        if teacher_forcing_ratio > 0 and target is None:
            raise ValueError(
                f"target: required with teacher_forcing_ratio={teacher_forcing_ratio} > 0"
            )
        last_step = (batch.mask.sum(dim=1) - 1).view(size, 1, 1).expand(-1, 1, self.num_targets)
        observed = batch.features.index_select(2, self.target_indices)
        previous = observed.gather(1, last_step)  # (N, 1, num_targets): last observed values
        hidden = self.bridge(final_state)
        if teacher_forcing_ratio == 1.0:
            inputs = torch.cat((previous, target[:, :-1]), dim=1)
            if covariates is not None:
                inputs = torch.cat((inputs, covariates), dim=2)
            output, _ = run_with_state(self.decoder, inputs, hidden)
            forecast = self.head(output)
            return forecast if highway is None else forecast + highway
        predictions = []
        for step in range(self.horizon):
            inputs = previous
            if covariates is not None:
                inputs = torch.cat((inputs, covariates[:, step : step + 1]), dim=2)
            output, hidden = run_with_state(self.decoder, inputs, hidden)
            prediction = self.head(output)  # (N, 1, num_targets)
            predictions.append(prediction)
            previous = prediction
            if teacher_forcing_ratio > 0:
                forced = use_teacher_forcing(teacher_forcing_ratio, size, generator, history.device)
                previous = torch.where(
                    forced.view(size, 1, 1), target[:, step : step + 1], prediction
                )
        forecast = torch.cat(predictions, dim=1)
        return forecast if highway is None else forecast + highway

    def _segments(self, batch: SequenceBatch) -> Tensor:
        """``(N, L, F)`` -> ``(N, L / s, s * F)``: each segment of ``s`` steps as one step."""
        features = batch.features
        if self.segment_length is None:
            return features
        size, steps, num_features = features.shape
        if batch.lengths is not None or steps % self.segment_length:
            raise ValueError(
                f"history: with segment_length={self.segment_length} the history must be a "
                f"whole number of segments with no lengths, got {steps} steps"
                + ("" if batch.lengths is None else " and lengths")
            )
        return features.reshape(size, steps // self.segment_length, -1)

    def _highway(self, batch: SequenceBatch) -> Tensor:
        """``(N, horizon, num_targets)``: the linear map of each target's last ``q`` values."""
        features, steps = batch.features, batch.features.shape[1]
        if steps < self.highway_length:
            raise ValueError(
                f"history: highway_length={self.highway_length} needs at least that many "
                f"steps, got {steps}"
            )
        observed = features.index_select(2, self.target_indices)  # (N, L, T)
        if batch.lengths is None:
            recent = observed[:, steps - self.highway_length :]
        else:
            last = batch.mask.sum(dim=1, keepdim=True)  # (N, 1): real lengths
            offsets = torch.arange(self.highway_length, device=features.device)
            positions = (last - self.highway_length + offsets).clamp(min=0)  # (N, q)
            recent = observed.gather(1, positions.unsqueeze(2).expand(-1, -1, self.num_targets))
        return self.highway(recent.transpose(1, 2)).transpose(1, 2)

    def _check_covariates(self, covariates: Tensor | None, batch: int) -> Tensor | None:
        if self.num_covariates == 0:
            if covariates is not None:
                raise ValueError(
                    f"future_covariates: the model has num_covariates=0, got a tensor of shape "
                    f"{tuple(covariates.shape)}"
                )
            return None
        expected = (batch, self.horizon, self.num_covariates)
        if covariates is None or tuple(covariates.shape) != expected:
            received = None if covariates is None else tuple(covariates.shape)
            raise ValueError(
                f"future_covariates: expected shape {expected} (N, horizon, num_covariates), "
                f"got {received}"
            )
        return covariates

    def extra_repr(self) -> str:
        return (
            f"horizon={self.horizon}, num_targets={self.num_targets}, "
            f"strategy={self.strategy!r}, num_covariates={self.num_covariates}, "
            f"segment_length={self.segment_length}, highway_length={self.highway_length}"
        )
