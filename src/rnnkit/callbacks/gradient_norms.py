"""Gradient norms per parameter group, before and after gradient clipping.

Groups: each recurrent layer and direction of every :class:`rnnkit.Recurrent` in the model
(``model.rnn.l0``, ``model.rnn.l0_reverse``...; torch.nn's ``_l<k>[_reverse]`` parameter
suffixes, plus the parameters nested in that cell), and every other parameter grouped by the
module that owns it, cut to ``depth`` name components (``model.input_layer`` for the
embedding, ``model.output_layer`` for the head). ``global`` is the norm over all parameters
the optimizer updates, the quantity ``gradient_clip_val`` bounds with
``gradient_clip_algorithm="norm"``.

The pre-clip norms are taken in ``on_before_optimizer_step``; the post-clip norms in
``on_after_gradient_clipping(trainer, pl_module, optimizer)``, a notification that
:meth:`rnnkit.tasks.base.RecurrentTask.configure_gradient_clipping` sends after Lightning's
clipping (other LightningModules do not send it: only pre-clip norms are logged then). With
clipping off, post equals pre.
"""

from __future__ import annotations

import re
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from rnnkit.layers.observe import recurrent_layers

_DIRECTION_SUFFIX = re.compile(r"_(l\d+(?:_reverse)?)$")


def parameter_groups(model: nn.Module, depth: int = 2) -> dict[str, list[nn.Parameter]]:
    """Parameters of ``model`` by group name (see the module docstring), in model order.

    Args:
        model: any module.
        depth: name components kept for parameters outside recurrent layers
            (``model.pooling.scorer.0.weight`` -> ``model.pooling`` with depth 2).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth: expected a positive integer, got {depth!r}")
    owner: dict[int, str] = {}
    for path, layer in recurrent_layers(model):
        prefix = f"{path}." if path else ""
        for name, parameter in layer.named_parameters():
            if name.startswith("cells."):  # cells.l0.layer_norm.weight
                suffix = name.split(".")[1]
            else:  # weight_ih_l0_reverse
                match = _DIRECTION_SUFFIX.search(name)
                suffix = match.group(1) if match else "other"
            owner.setdefault(id(parameter), prefix + suffix)
    groups: dict[str, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        group = owner.get(id(parameter))
        if group is None:
            parts = name.split(".")[:-1] or ["(root)"]
            group = ".".join(parts[:depth])
        groups.setdefault(group, []).append(parameter)
    return groups


def gradient_norm(parameters: list[Tensor], norm_type: float = 2.0) -> float:
    """Norm of the gradients of ``parameters`` taken together (0.0 when none has one)."""
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norms = torch.stack([torch.linalg.vector_norm(g.double(), norm_type) for g in grads])
    return float(torch.linalg.vector_norm(norms, norm_type))


class GradientNormCallback(pl.Callback):
    """Log per-group and global gradient norms before and after clipping, as scalars.

    Tags: ``grad_norm/pre_clip/<group>``, ``grad_norm/post_clip/<group>``, with ``<group>``
    a parameter group (see :func:`parameter_groups`) or ``global``. Logged to every logger
    at the trainer's ``global_step`` on steps that are multiples of ``every_n_steps``.

    Args:
        every_n_steps: measuring period; None uses the trainer's ``log_every_n_steps``.
        norm_type: the p of the p-norm (2 as gradient clipping by norm).
        depth: see :func:`parameter_groups`.

    Attributes:
        history: one dict per measured step, ``{"step": int, "pre": {group: norm},
            "post": {group: norm}}`` (``post`` empty without the clipping notification).
    """

    def __init__(
        self, every_n_steps: int | None = None, norm_type: float = 2.0, depth: int = 2
    ) -> None:
        super().__init__()
        period = every_n_steps
        if period is not None and (
            isinstance(period, bool) or not isinstance(period, int) or period < 1
        ):
            raise ValueError(
                f"every_n_steps: expected a positive integer or None, got {every_n_steps!r}"
            )
        if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or norm_type <= 0:
            raise ValueError(f"norm_type: expected a positive number, got {norm_type!r}")
        self.every_n_steps = every_n_steps
        self.norm_type = float(norm_type)
        self.depth = depth
        self.history: list[dict[str, Any]] = []
        self._groups: dict[str, list[nn.Parameter]] | None = None
        self._pending: dict[str, Any] | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._groups = parameter_groups(pl_module, self.depth)

    def _measuring(self, trainer: pl.Trainer) -> bool:
        period = self.every_n_steps or max(int(trainer.log_every_n_steps), 1)
        return trainer.global_step % period == 0

    def _norms(self, pl_module: pl.LightningModule, optimizer: Any) -> dict[str, float]:
        if self._groups is None:
            self._groups = parameter_groups(pl_module, self.depth)
        norms = {
            name: gradient_norm(parameters, self.norm_type)
            for name, parameters in self._groups.items()
            if any(p.grad is not None for p in parameters)
        }
        optimized = [p for group in optimizer.param_groups for p in group["params"]]
        norms["global"] = gradient_norm(optimized, self.norm_type)
        return norms

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        self._pending = None
        if not self._measuring(trainer):
            return
        pre = self._norms(pl_module, optimizer)
        self._pending = {"step": trainer.global_step, "pre": pre, "post": {}}
        self.history.append(self._pending)
        _log(trainer, {f"grad_norm/pre_clip/{k}": v for k, v in pre.items()})

    def on_after_gradient_clipping(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        """Called by :meth:`RecurrentTask.configure_gradient_clipping` after clipping."""
        entry, self._pending = self._pending, None
        if entry is None:
            return
        post = self._norms(pl_module, optimizer)
        entry["post"] = post
        _log(trainer, {f"grad_norm/post_clip/{k}": v for k, v in post.items()})


def _log(trainer: pl.Trainer, scalars: dict[str, float]) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(scalars, step=trainer.global_step)
