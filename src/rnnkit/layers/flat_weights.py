"""The fused kernel's weights laid out in one buffer, so the kernel never compacts them.

cuDNN reads an RNN's weights from one contiguous buffer in its own layout. Given parameters
that live apart, it warns ("RNN module weights are not part of single contiguous chunk of
memory") and copies them into such a buffer on **every** call. :func:`flatten_weights` does
that copy once: on CUDA with torch's own ``torch._cudnn_rnn_flatten_weight`` (what
``torch.nn.RNNBase.flatten_parameters`` calls), elsewhere by concatenating the parameters in
``_flat_weights`` order. Either way every parameter stays the same ``nn.Parameter`` object
(same name, shape and state_dict entry), now a view of the shared buffer, so optimizers and
state_dicts are unaffected. :class:`rnnkit.Recurrent` calls it after construction,
``.to()``/``.cuda()``/``.double()``, ``load_state_dict`` and unpickling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

CUDNN_MODES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}
"""torch.nn's ``mode`` string for each fused kernel name of :mod:`rnnkit.layers.fused`."""


def flatten_weights(
    weights: Sequence[Tensor],
    kernel: str,
    input_size: int,
    hidden_size: int,
    proj_size: int,
    num_layers: int,
    bidirectional: bool,
    has_biases: bool,
) -> bool:
    """Make ``weights`` (torch.nn's ``_flat_weights`` order) views of one buffer, in place.

    Skipped, returning False, when the weights cannot share a buffer: not all
    ``nn.Parameter`` (a weight replaced by a computed tensor, as weight drop does), of
    different dtypes or devices, aliasing one another, or sparse.

    Returns:
        Whether the weights now share one buffer.
    """
    if not weights or not all(isinstance(w, nn.Parameter) for w in weights):
        return False
    first = weights[0]
    if any(w.dtype != first.dtype or w.device != first.device or w.is_sparse for w in weights):
        return False
    if len({w.data_ptr() for w in weights}) != len(weights):
        return False
    if first.is_cuda:
        return _flatten_for_cudnn(
            weights, kernel, input_size, hidden_size, proj_size, num_layers, bidirectional,
            has_biases,
        )  # fmt: skip
    if is_flat(weights):
        return True
    buffer = first.new_empty(sum(w.numel() for w in weights))
    offset = 0
    with torch.no_grad():
        for weight in weights:
            size = weight.numel()
            buffer[offset : offset + size].view_as(weight).copy_(weight)
            weight.set_(buffer.untyped_storage(), offset, weight.shape)
            offset += size
    return True


def is_flat(weights: Sequence[Tensor]) -> bool:
    """Whether ``weights`` are consecutive contiguous views of one storage, in this order
    (the layout :func:`flatten_weights` makes off CUDA)."""
    if not weights:
        return False
    storage = weights[0].untyped_storage().data_ptr()
    offset = weights[0].storage_offset()
    for weight in weights:
        if (
            weight.untyped_storage().data_ptr() != storage
            or weight.storage_offset() != offset
            or not weight.is_contiguous()
        ):
            return False
        offset += weight.numel()
    return True


def _flatten_for_cudnn(
    weights: Sequence[Tensor],
    kernel: str,
    input_size: int,
    hidden_size: int,
    proj_size: int,
    num_layers: int,
    bidirectional: bool,
    has_biases: bool,
) -> bool:
    if not all(torch.backends.cudnn.is_acceptable(w) for w in weights):
        return False
    if not torch._use_cudnn_rnn_flatten_weight():
        return False
    from torch.backends.cudnn import rnn as cudnn_rnn

    num_weights = (4 if has_biases else 2) + (1 if proj_size > 0 else 0)
    with torch.cuda.device_of(weights[0]), torch.no_grad():
        torch._cudnn_rnn_flatten_weight(
            list(weights),
            num_weights,
            input_size,
            cudnn_rnn.get_cudnn_mode(CUDNN_MODES[kernel]),
            hidden_size,
            proj_size,
            num_layers,
            False,
            bidirectional,
        )
    return True
