"""Lightning callbacks: a one-line epoch summary, gradient flow through time, gradient norms
around clipping, a stop at the first non-finite loss, weight averaging started when validation
stalls (NT-ASGD), the checkpoints that let a killed run resume exactly (``last.ckpt``, random
states) and the writer that makes every checkpoint file atomic."""

from rnnkit.callbacks.atomic_checkpoint_io import AtomicCheckpointIO
from rnnkit.callbacks.epoch_summary import EpochSummary
from rnnkit.callbacks.gradient_flow import (
    GradientFlowCallback,
    GradientFlowRecorder,
    GradientFlowSnapshot,
)
from rnnkit.callbacks.gradient_norms import GradientNormCallback, parameter_groups
from rnnkit.callbacks.last_checkpoint import LastCheckpoint, replace_atomically
from rnnkit.callbacks.non_finite_loss import NonFiniteLossCallback, NonFiniteLossError
from rnnkit.callbacks.random_state import RandomStateCheckpoint
from rnnkit.callbacks.weight_averaging import NTAveraging

__all__ = [
    "AtomicCheckpointIO",
    "EpochSummary",
    "GradientFlowCallback",
    "GradientFlowRecorder",
    "GradientFlowSnapshot",
    "GradientNormCallback",
    "LastCheckpoint",
    "NonFiniteLossCallback",
    "NonFiniteLossError",
    "NTAveraging",
    "RandomStateCheckpoint",
    "parameter_groups",
    "replace_atomically",
]
