"""Teacher-forcing ratio schedules (scheduled sampling, Bengio et al. 2015).

During training a decoder is fed either the gold previous token (teacher forcing) or its own
prediction. The probability of teacher forcing usually decays with the training step:

* ``constant``: ``start`` at every step;
* ``linear``: from ``start`` to ``end`` over ``decay_steps`` steps, then ``end``;
* ``exponential``: ``start * k ** step`` with ``k`` in ``(0, 1)``;
* ``inverse_sigmoid``: ``k / (k + exp(step / k))`` with ``k >= 1`` (the paper's schedule).

:func:`use_teacher_forcing` then draws the per-example decision for one decoder step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

_KINDS = ("constant", "linear", "exponential", "inverse_sigmoid")
# The parameters each kind reads; giving one a kind does not read is an error, never ignored.
_PARAMETERS = {
    "constant": ("start",),
    "linear": ("start", "end", "decay_steps"),
    "exponential": ("start", "k"),
    "inverse_sigmoid": ("k",),
}


def _check_ratio(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a ratio in [0, 1], got {value!r}")


@dataclass(frozen=True)
class TeacherForcingSchedule:
    """The teacher-forcing ratio as a function of the training step.

    Args:
        kind: ``"constant"``, ``"linear"``, ``"exponential"`` or ``"inverse_sigmoid"``.
        start: the ratio at step 0 (constant, linear, exponential); default 1.0.
        end: the final ratio (linear only); default 0.0.
        decay_steps: steps to go from ``start`` to ``end`` (linear only, required, >= 1).
        k: decay constant (exponential: in ``(0, 1)``; inverse_sigmoid: ``>= 1``; required).

    A parameter the kind does not use must be left ``None``: it raises a ValueError rather than
    being silently ignored.

    Example::

        schedule = TeacherForcingSchedule("linear", start=1.0, end=0.2, decay_steps=10_000)
        ratio = schedule(global_step)
    """

    kind: str = "constant"
    start: float | None = None
    end: float | None = None
    decay_steps: int | None = None
    k: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind: expected one of {_KINDS}, got {self.kind!r}")
        used = _PARAMETERS[self.kind]
        for name in ("start", "end", "decay_steps", "k"):
            if getattr(self, name) is not None and name not in used:
                raise ValueError(
                    f"{name}: not used by kind={self.kind!r} (it uses {used}), got {name}="
                    f"{getattr(self, name)!r}; leave it None"
                )
        if self.start is not None:
            _check_ratio("start", self.start)
        if self.end is not None:
            _check_ratio("end", self.end)
        if self.kind == "linear" and (
            not isinstance(self.decay_steps, int) or self.decay_steps < 1
        ):
            raise ValueError(
                f"decay_steps: expected an int >= 1 for kind='linear', got {self.decay_steps!r}"
            )
        if self.kind == "exponential" and (self.k is None or not 0.0 < self.k < 1.0):
            raise ValueError(
                f"k: expected a value in (0, 1) for kind='exponential', got {self.k!r}"
            )
        if self.kind == "inverse_sigmoid" and (self.k is None or not self.k >= 1.0):
            raise ValueError(f"k: expected a value >= 1 for kind='inverse_sigmoid', got {self.k!r}")

    def schedule(self, step: int) -> float:
        """The teacher-forcing ratio in ``[0, 1]`` at training step ``step >= 0``."""
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step: expected an int >= 0, got {step!r}")
        start = 1.0 if self.start is None else self.start
        if self.kind == "constant":
            ratio = start
        elif self.kind == "linear":
            end = 0.0 if self.end is None else self.end
            progress = min(step / self.decay_steps, 1.0)
            ratio = start + (end - start) * progress
        elif self.kind == "exponential":
            ratio = start * self.k**step
        else:  # inverse_sigmoid; exp overflows to inf for huge steps, giving ratio 0
            exponent = step / self.k
            ratio = 0.0 if exponent > 700 else self.k / (self.k + math.exp(exponent))
        return min(max(ratio, 0.0), 1.0)

    def __call__(self, step: int) -> float:
        return self.schedule(step)


def use_teacher_forcing(
    ratio: float,
    batch_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Per-example teacher-forcing decisions for one decoder step.

    Each example independently uses the gold token with probability ``ratio`` (a Bernoulli draw
    per step and per example, so one batch mixes both inputs).

    Args:
        ratio: probability of teacher forcing, in ``[0, 1]``.
        batch_size: number of examples ``B``.
        generator: optional random generator, for reproducible draws.
        device: where to put the mask (the generator's device must match).

    Returns:
        ``(B,)`` bool mask, True where the gold token is fed. Use it as
        ``inputs = torch.where(mask, gold_tokens, predicted_tokens)``.
    """
    _check_ratio("ratio", ratio)
    if not isinstance(batch_size, int) or batch_size < 0:
        raise ValueError(f"batch_size: expected an int >= 0, got {batch_size!r}")
    return torch.rand(batch_size, generator=generator, device=device) < ratio
