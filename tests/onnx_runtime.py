"""Export a module to ONNX (torch's dynamo exporter) and run it with onnxruntime; skips the
calling test when the ``onnx`` extra is not installed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import torch


def onnx_outputs(
    module: torch.nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    feeds: Sequence[torch.Tensor],
) -> list[torch.Tensor]:
    """Export ``module(*args, **kwargs)`` and run the ONNX model on ``feeds`` (its inputs in
    order: positional, then keyword); the outputs flattened, as tensors."""
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    program = torch.onnx.export(module, args, kwargs=kwargs, dynamo=True, verbose=False)
    session = ort.InferenceSession(program.model_proto.SerializeToString())
    names = [i.name for i in session.get_inputs()]
    values = session.run(None, {n: f.numpy() for n, f in zip(names, feeds, strict=True)})
    return [torch.from_numpy(v) for v in values]
