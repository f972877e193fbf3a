"""Mixed precision: the dtype a recurrent layer computes in under ``torch.autocast``.

Autocast casts operation by operation, and a recurrence mixes the two dtypes it meets: an
input in float32 (an embedding) with a state in bfloat16 (made by an autocast ``Linear``), or
the other way round. torch's fused CPU LSTM kernel fails outright under autocast ("could not
create a primitive descriptor", torch.nn.LSTM included). :class:`rnnkit.Recurrent` therefore
decides once per call: under autocast for the input's device type, the input, the initial
state and (for the fused kernel on CPU) the weights are cast to the autocast dtype, as
autocast does for one matmul, and the whole recurrence runs in it. Gradients reach the
float32 parameters through the casts. Outside autocast nothing is cast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor


def autocast_dtype(tensor: Tensor) -> torch.dtype | None:
    """The dtype autocast computes in on ``tensor``'s device type, or None outside autocast."""
    device_type = tensor.device.type
    if not tensor.dtype.is_floating_point or not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


@contextlib.contextmanager
def fused_precision(inputs: Tensor, weights: Sequence[Tensor]) -> Iterator[list[Tensor]]:
    """The weights the fused kernel should read for ``inputs``, inside the right autocast scope.

    On CUDA, autocast itself casts (and re-flattens) cuDNN's weights, so they pass through.
    On CPU, autocast is switched off around the kernel and the weights are cast to the
    input's dtype (already the autocast dtype: see :func:`autocast_dtype`).
    """
    device_type = inputs.device.type
    if device_type != "cpu" or not torch.is_autocast_enabled(device_type):
        yield list(weights)
        return
    with torch.autocast(device_type, enabled=False):
        yield [w.to(inputs.dtype) for w in weights]
