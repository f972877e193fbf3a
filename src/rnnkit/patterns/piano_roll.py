"""Many-to-many with a multi-label output: polyphonic music as one Bernoulli per key and step."""

from __future__ import annotations

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
)
from rnnkit.patterns.bridge import (
    RecurrentState,
    check_unidirectional,
    run_with_state,
    zero_state,
)


class PianoRollModel(nn.Module):
    """Next-frame model of binary piano rolls (Boulanger-Lewandowski et al. 2012's setting).

    Step ``t`` reads the frame before it (zeros at ``t = 0``) and outputs one logit per key;
    the keys of a frame are independent given the state, so a frame's probability is
    ``prod_k sigmoid(z_k)^{x_k} (1 - sigmoid(z_k))^{1 - x_k}`` and its negative log-likelihood
    the sum over keys of the binary cross-entropy (:meth:`step_nll`)::

        frames ─▶ shift right ─▶ rnn ─▶ dropout ─▶ Linear ─▶ logits
        (N, L, K)  (N, L, K)           (N, L, H)            (N, L, K)

    Args:
        rnn: a built unidirectional :class:`rnnkit.Recurrent` with ``input_size == num_keys``.
        num_keys: ``K``, keys per frame (88 for the piano).
        dropout: dropout on the recurrent outputs, before the output layer.
        input_dropout: dropout on the input frames (notes of the previous step hidden at
            random while training).
    """

    def __init__(
        self, rnn: Recurrent, num_keys: int, dropout: float = 0.0, input_dropout: float = 0.0
    ) -> None:
        super().__init__()
        check_recurrent(rnn)
        check_unidirectional(rnn, "rnn")
        check_positive_int("num_keys", num_keys)
        if rnn.input_size != num_keys:
            raise ValueError(
                f"rnn: expected input_size == num_keys ({num_keys}), got {rnn.input_size}"
            )
        self.rnn = rnn
        self.num_keys = num_keys
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.input_dropout = nn.Dropout(check_dropout(input_dropout, "input_dropout"))
        self.output_layer = nn.Linear(rnn.output_size, num_keys)

    def forward(
        self,
        frames: Tensor,
        lengths: Tensor | None = None,
        state: RecurrentState | None = None,
        shift: bool = True,
    ) -> tuple[Tensor, RecurrentState]:
        """Logits ``(N, L, K)`` for every frame of ``frames (N, L, K)`` from the frames before it.

        Args:
            frames: ``(N, L, K)`` float rolls (1 where a key sounds).
            lengths: ``(N,)`` steps per piece (padded steps are not computed), or None.
            state: the state to start from (``hx`` layout), or None for zeros.
            shift: True: step ``t`` reads frame ``t - 1`` (zeros first), so ``logits[:, t]``
                predict ``frames[:, t]``; False: step ``t`` reads frame ``t`` (continuing a
                sequence whose earlier frames were read already).

        Returns:
            ``logits (N, L, K)`` and the state after each piece's last step.
        """
        if frames.dim() != 3 or frames.shape[-1] != self.num_keys:
            raise ValueError(
                f"frames: expected (N, L, {self.num_keys}), got shape {tuple(frames.shape)}"
            )
        if lengths is not None:
            lengths = check_lengths(lengths, frames.shape[0], frames.shape[1])
        inputs = F.pad(frames[:, :-1], (0, 0, 1, 0)) if shift else frames
        outputs, state = run_with_state(self.rnn, self.input_dropout(inputs), state, lengths)
        return self.output_layer(self.dropout(outputs)), state

    @staticmethod
    def step_nll(logits: Tensor, frames: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``(N, L)`` negative log-likelihood (nats) of each frame: the binary cross-entropy
        summed over keys; 0 past each length."""
        nll = F.binary_cross_entropy_with_logits(logits, frames, reduction="none").sum(-1)
        if lengths is not None:
            nll = nll * mask_from_lengths(lengths, frames.shape[1]).to(nll.dtype)
        return nll

    @torch.no_grad()
    def sample(
        self,
        steps: int,
        seed: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        batch_size: int = 1,
    ) -> Tensor:
        """Continue ``seed`` by ``steps`` frames, each key drawn from
        ``Bernoulli(sigmoid(logit / temperature))`` (``temperature = 0``: on where the
        probability exceeds 0.5).

        Args:
            steps: frames to add.
            seed: ``(N, S, K)`` frames to continue (all of the same length), or None to start
                from nothing (``batch_size`` pieces).
            temperature: ``>= 0``; below 1 sharper, above 1 more random.
            generator: for reproducible draws.

        Returns:
            ``(N, S + steps, K)`` float: the seed followed by the sampled frames. Call
            ``eval()`` first: dropout stays active in training mode.
        """
        check_positive_int("steps", steps)
        if not isinstance(temperature, (int, float)) or temperature < 0:
            raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
        weight = self.output_layer.weight
        if seed is None or seed.shape[1] == 0:
            batch = batch_size if seed is None else seed.shape[0]
            seed = weight.new_zeros(batch, 0, self.num_keys)
        if seed.dim() != 3 or seed.shape[-1] != self.num_keys:
            raise ValueError(
                f"seed: expected (N, S, {self.num_keys}) frames, got shape {tuple(seed.shape)}"
            )
        seed = seed.to(weight)
        state = zero_state(self.rnn, seed.shape[0], dtype=weight.dtype, device=weight.device)
        previous = weight.new_zeros(seed.shape[0], 1, self.num_keys)
        if seed.shape[1]:
            _, state = self(seed, state=state)  # reads zeros, seed[0], ..., seed[S - 2]
            previous = seed[:, -1:]
        frames = [seed]
        for _ in range(steps):
            logits, state = self(previous, state=state, shift=False)
            if temperature == 0:
                previous = (logits > 0).to(weight.dtype)
            else:
                probabilities = torch.sigmoid(logits / temperature)
                previous = torch.bernoulli(probabilities, generator=generator)
            frames.append(previous)
        return torch.cat(frames, dim=1)
