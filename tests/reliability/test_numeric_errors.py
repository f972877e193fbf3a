"""Numbers that go wrong: a NaN/inf loss stops the run at its step with the checkpoints kept; an
empty batch in rnnkit's time loop is a clear error."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

import rnnkit
from rnnkit.callbacks import NonFiniteLossCallback, NonFiniteLossError
from rnnkit.cli.errors import EXIT_DATA_ERROR, run_reporting_errors


def error_lines(stderr: str) -> list[str]:
    """The ``rnnkit: error:`` lines (other lines may be log records of earlier tests)."""
    return [line for line in stderr.splitlines() if line.startswith("rnnkit: error:")]


class LossGoesBad(pl.LightningModule):
    """A linear model whose loss becomes ``bad`` at optimisation step ``bad_step``."""

    def __init__(self, bad: float, bad_step: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.bad, self.bad_step = bad, bad_step

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = torch.nn.functional.mse_loss(self.layer(inputs), targets)
        if self.global_step == self.bad_step:
            loss = loss * self.bad
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(tmp_path, bad: float, bad_step: int, with_callback: bool = True):
    checkpoints = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path, filename="step{step}", every_n_train_steps=1, save_last=True
    )
    callbacks = [checkpoints] + ([NonFiniteLossCallback()] if with_callback else [])
    trainer = pl.Trainer(
        max_epochs=1,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    data = TensorDataset(torch.randn(16, 2), torch.randn(16, 1))
    module = LossGoesBad(bad, bad_step)
    trainer.fit(module, DataLoader(data, batch_size=2))
    return module, trainer


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("bad_step", [0, 3])
def test_a_non_finite_loss_stops_at_its_step_before_the_update(tmp_path, capsys, bad, bad_step):
    folder = tmp_path / "run"
    module_holder = {}

    def run():
        torch.manual_seed(0)
        module, _ = fit(folder, bad, bad_step)
        module_holder["module"] = module

    with pytest.raises(SystemExit) as exit_info:
        run_reporting_errors(run)
    assert exit_info.value.code == EXIT_DATA_ERROR
    (line,) = error_lines(capsys.readouterr().err)
    assert f"training loss is {bad} at step {bad_step} (epoch 0, batch {bad_step})" in line
    saved = sorted(p.name for p in folder.glob("*.ckpt")) if folder.exists() else []
    if bad_step == 0:
        assert "none written yet" in line and not saved
        return
    assert "last.ckpt" in line
    last = torch.load(folder / "last.ckpt", weights_only=True)
    assert last["global_step"] == bad_step  # the last good step, not the bad one
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())


def test_a_finite_loss_trains_as_without_the_callback(tmp_path):
    torch.manual_seed(0)
    with_check, _ = fit(tmp_path / "a", 1.0, -1)
    torch.manual_seed(0)
    without, _ = fit(tmp_path / "b", 1.0, -1, with_callback=False)
    for a, b in zip(with_check.parameters(), without.parameters()):
        assert torch.equal(a, b)


def test_the_error_is_a_value_error_for_library_users(tmp_path):
    with pytest.raises(NonFiniteLossError, match="training loss is nan at step 2"):
        fit(tmp_path, float("nan"), 2)
    assert issubclass(NonFiniteLossError, ValueError)


# (layer, input shape, lengths or None)
EMPTY_BATCH_CASES = [
    (lambda: rnnkit.LSTM(3, 4, batch_first=True, backend="loop"), (0, 5, 3), None),
    (lambda: rnnkit.GRU(3, 4, batch_first=True, backend="loop"), (0, 5, 3), None),
    (lambda: rnnkit.LSTM(3, 4, batch_first=True, backend="loop"), (0, 5, 3), True),
    (lambda: rnnkit.LSTM(3, 4, batch_first=True), (0, 5, 3), True),
    (lambda: rnnkit.RNN(3, 4, backend="loop"), (5, 0, 3), None),
]


@pytest.mark.parametrize(("make_layer", "shape", "lengths"), EMPTY_BATCH_CASES)
def test_an_empty_batch_in_the_time_loop_is_a_clear_error(make_layer, shape, lengths):
    layer = make_layer()
    options = {"lengths": torch.zeros(0, dtype=torch.long)} if lengths else {}
    with pytest.raises(ValueError, match=r"input: expected at least one sequence, got a batch"):
        layer(torch.zeros(shape), **options)


def test_the_fused_kernel_still_accepts_an_empty_batch_as_torch_does():
    output, _ = rnnkit.LSTM(3, 4, batch_first=True)(torch.zeros(0, 5, 3))
    assert output.shape == (0, 5, 4)
