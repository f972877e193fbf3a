"""The Lightning callback that ``scripts/bench_data.py`` adds to each measured training run.

``FirstStepTimer`` writes wall-clock times (``time.time()``, comparable with the parent
process's clock) to a JSON file as the run reaches them:

* ``constructed``: the callback was built. ``rnnkit-train`` builds callbacks after the
  datamodule is set up and the task built, so this is "data prepared, model built";
* ``fit_start``: ``on_fit_start``, once the Trainer has set up;
* ``first_step``: the first ``on_train_batch_start``, the start of the first training step;
* ``first_step_end``: the end of the first training batch;
* ``last_batch_end``: the end of batch ``last_batch`` (or of the last batch the epoch had),
  with ``batches``, the number of training batches finished by then.

At the first step it also keeps the process's RSS high-water mark (``ru_maxrss``, KiB on
Linux), which separates the memory of data preparation from that of training, and its CPU
seconds so far, which a busy machine inflates less than the wall-clock times. The file is
rewritten at each milestone, so a run that dies later still leaves what it reached.

    +callbacks.bench_timer._target_=bench_data_timer.FirstStepTimer
    +callbacks.bench_timer.path=/tmp/timer.json    # with scripts/ on PYTHONPATH
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class FirstStepTimer(pl.Callback):
    """Record when a training run reaches its first step and its ``last_batch``-th batch.

    Args:
        path: the JSON file to write.
        last_batch: the batch whose end closes the throughput window (1-based).
    """

    def __init__(self, path: str, last_batch: int = 50) -> None:
        self.path = Path(path)
        self.last_batch = int(last_batch)
        self.times: dict[str, Any] = {"constructed": time.time(), "batches": 0}
        self.write()

    def write(self) -> None:
        """Write the times so far (to a temporary name first, so a reader sees whole files)."""
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.times, indent=2))
        partial.replace(self.path)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.times["fit_start"] = time.time()
        self.write()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if "first_step" not in self.times:
            self.times["first_step"] = time.time()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.times["maxrss_kib_at_first_step"] = usage.ru_maxrss
            self.times["cpu_s_at_first_step"] = usage.ru_utime + usage.ru_stime
            self.write()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        now = time.time()
        self.times["batches"] += 1
        if self.times["batches"] == 1:
            self.times["first_step_end"] = now
            self.write()
        if self.times["batches"] <= self.last_batch:
            self.times["last_batch_end"] = now
        if self.times["batches"] == self.last_batch:
            self.write()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.times["train_end"] = time.time()
        self.times["batches"] = min(self.times["batches"], self.last_batch)
        self.write()
