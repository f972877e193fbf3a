"""Lightning callbacks: gradient flow through time and gradient norms around clipping."""

from rnnkit.callbacks.gradient_flow import (
    GradientFlowCallback,
    GradientFlowRecorder,
    GradientFlowSnapshot,
)
from rnnkit.callbacks.gradient_norms import GradientNormCallback, parameter_groups

__all__ = [
    "GradientFlowCallback",
    "GradientFlowRecorder",
    "GradientFlowSnapshot",
    "GradientNormCallback",
    "parameter_groups",
]
