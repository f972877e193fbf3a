"""Lightning callbacks: gradient flow through time, gradient norms around clipping, and a stop
at the first non-finite loss."""

from rnnkit.callbacks.gradient_flow import (
    GradientFlowCallback,
    GradientFlowRecorder,
    GradientFlowSnapshot,
)
from rnnkit.callbacks.gradient_norms import GradientNormCallback, parameter_groups
from rnnkit.callbacks.non_finite_loss import NonFiniteLossCallback, NonFiniteLossError

__all__ = [
    "GradientFlowCallback",
    "GradientFlowRecorder",
    "GradientFlowSnapshot",
    "GradientNormCallback",
    "NonFiniteLossCallback",
    "NonFiniteLossError",
    "parameter_groups",
]
