"""Channel independence: each target series forecast on its own, through shared weights.

PatchTST (Nie et al. 2023) and SegRNN (Lin et al. 2023) forecast a multivariate series as
``T`` univariate ones: every target channel becomes its own example of the same model, which
then sees ``T`` times as many (shorter) training examples and cannot overfit to the
cross-channel correlations of the training months. Features that are not targets (measured
covariates) are given to every channel beside its own values, and known-future covariates are
shared by all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.patterns.forecaster import Forecaster


class ChannelIndependent(nn.Module):
    """Run a one-target :class:`Forecaster` once per target channel of ``(N, L, F)``.

    Args:
        forecaster: built for one series: ``num_targets=1`` and a history of
            ``1 + F - T`` features per step (the channel first, then the non-target features
            in their order); with ``strategy="autoregressive"`` or a highway its target index
            must be 0.
        num_features: ``F``, the features of the history given to ``forward``.
        target_indices: which ``T`` of the ``F`` features are forecast, in the order of the
            output.

    Example::

        one = Forecaster(rnnkit.GRU(1, 32, batch_first=True), horizon=24, num_targets=1)
        model = ChannelIndependent(one, num_features=7, target_indices=range(7))
        forecast = model(torch.randn(4, 96, 7))                       # (4, 24, 7)
    """

    def __init__(
        self, forecaster: Forecaster, num_features: int, target_indices: Sequence[int]
    ) -> None:
        super().__init__()
        if not isinstance(forecaster, Forecaster):
            raise ValueError(
                f"forecaster: expected a built rnnkit.patterns.Forecaster, got "
                f"{type(forecaster).__name__}"
            )
        indices = tuple(target_indices)
        if (
            not indices
            or len(set(indices)) != len(indices)
            or not all(isinstance(i, int) and 0 <= i < num_features for i in indices)
        ):
            raise ValueError(
                f"target_indices: expected distinct feature indices in [0, {num_features}), "
                f"got {target_indices!r}"
            )
        others = tuple(i for i in range(num_features) if i not in indices)
        if forecaster.num_targets != 1 or forecaster.num_features != 1 + len(others):
            raise ValueError(
                f"forecaster: each channel is one series with {len(others)} non-target "
                f"feature(s) beside it, so expected num_targets=1 and {1 + len(others)} "
                f"history features per step, got num_targets={forecaster.num_targets} and "
                f"{forecaster.num_features}"
            )
        if forecaster.target_indices is not None and forecaster.target_indices.tolist() != [0]:
            raise ValueError(
                f"forecaster: its target is the channel, feature 0, got target_indices="
                f"{forecaster.target_indices.tolist()}"
            )
        self.forecaster = forecaster
        self.num_features = num_features
        self.register_buffer("target_indices", torch.tensor(indices), persistent=False)
        self.register_buffer("other_indices", torch.tensor(others, dtype=torch.long), False)

    def forward(
        self,
        history: Tensor,
        future_covariates: Tensor | None = None,
        target: Tensor | None = None,
        teacher_forcing_ratio: float = 0.0,
        lengths: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``history (N, L, F)`` -> ``(N, horizon, T)``; the other arguments as
        :meth:`Forecaster.forward` takes them (``future_covariates (N, horizon, C)``,
        ``target (N, horizon, T)``, ``lengths (N,)``)."""
        if history.dim() != 3 or history.shape[2] != self.num_features:
            raise ValueError(
                f"history: expected (N, L, {self.num_features}), got {tuple(history.shape)}"
            )
        size, steps, _ = history.shape
        channels = len(self.target_indices)
        series = history.index_select(2, self.target_indices).transpose(1, 2)  # (N, T, L)
        series = series.reshape(size * channels, steps, 1)
        if len(self.other_indices):
            others = history.index_select(2, self.other_indices)
            others = others.repeat_interleave(channels, dim=0)  # (N * T, L, F - T)
            series = torch.cat((series, others), dim=2)
        if future_covariates is not None:
            future_covariates = future_covariates.repeat_interleave(channels, dim=0)
        if target is not None:
            target = target.transpose(1, 2).reshape(size * channels, -1, 1)
        if lengths is not None:
            lengths = lengths.repeat_interleave(channels)
        forecast = self.forecaster(
            series, future_covariates, target, teacher_forcing_ratio, lengths, generator
        )
        return forecast.reshape(size, channels, -1).transpose(1, 2)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, targets={self.target_indices.tolist()}"
