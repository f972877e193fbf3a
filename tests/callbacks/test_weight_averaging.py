"""NT-ASGD's averaging (NTAveraging): AWD-LSTM's non-monotone trigger, the average is the mean
of the iterates after the trigger, validation and checkpoints use it, the raw weights resume."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.callbacks.weight_averaging import NTAveraging, nonmonotonic_trigger


@pytest.mark.parametrize(
    ("history", "current", "patience", "mode", "expected"),
    [
        ([5.0, 4.0, 3.0], 3.5, 2, "min", False),  # worse than recent, better than old best 5
        ([3.0, 4.0, 4.5], 3.2, 2, "min", True),  # worse than the best before the last two
        ([3.0, 4.0], 9.0, 2, "min", False),  # not more than `patience` checks yet
        ([3.0, 2.0, 1.0], 1.5, 0, "min", True),  # patience 0: worse than any best so far
        ([0.5, 0.6, 0.7], 0.4, 2, "max", True),
        ([0.5, 0.6, 0.7], 0.55, 2, "max", False),
    ],
)
def test_awd_lstms_nonmonotone_trigger(history, current, patience, mode, expected):
    assert nonmonotonic_trigger(history, current, patience, mode) is expected


class Regression(pl.LightningModule):
    """A linear model; logs the scripted ``val/loss`` values, one per validation epoch."""

    def __init__(self, val_losses=None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 1)
        self.val_losses = list(val_losses or [])
        self.iterates: list[list[torch.Tensor]] = []  # parameters after every optimizer step
        self.validated_with: list[list[torch.Tensor]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.linear(x), y)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.iterates.append([p.detach().clone() for p in self.parameters()])

    def validation_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.validated_with.append([p.detach().clone() for p in self.parameters()])
        x, y = batch
        loss = nn.functional.mse_loss(self.linear(x), y)
        scripted = self.val_losses.pop(0) if self.val_losses else None
        self.log("val/loss", loss if scripted is None else torch.tensor(scripted))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loaders():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(32, 1, generator=generator)
    data = TensorDataset(x, y)
    return DataLoader(data, batch_size=8), DataLoader(data, batch_size=32)


def fit(module, callback, tmp_path, epochs):
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, *loaders())
    return trainer


def mean(iterates):
    return [torch.stack(column).mean(0) for column in zip(*iterates)]


def assert_same(left, right):
    for a, b in zip(left, right, strict=True):
        torch.testing.assert_close(a, b)


def test_the_average_is_the_mean_of_the_iterates_after_start_step(tmp_path):
    module, callback = Regression(), NTAveraging(patience=None, start_step=6)
    trainer = fit(module, callback, tmp_path, epochs=3)  # 4 steps an epoch: 12 in all
    assert callback.triggered_at == 5
    assert int(callback._average_model.n_averaged) == 7  # iterates after steps 6..12
    expected = mean(module.iterates[5:])
    assert_same(callback.averaged_parameters(), expected)
    # Validation: epoch 1 (4 steps) as trained, epoch 2 on the mean of steps 6-8, epoch 3 on 6-12.
    assert_same(module.validated_with[0], module.iterates[3])
    assert_same(module.validated_with[1], mean(module.iterates[5:8]))
    assert_same(module.validated_with[2], expected)
    # Training ends with the averaged weights in the model.
    assert_same(list(module.parameters()), expected)
    assert trainer.callback_metrics["train/averaged_iterates"] == 7


def test_nonmonotone_trigger_starts_the_average_at_the_stalled_check(tmp_path):
    # patience 2: the 4th check (2.6) is compared with the checks before the last two, [3.0]:
    # better, no trigger; the 5th (2.1) with [3.0, 2.0]: worse than 2.0, trigger.
    module = Regression(val_losses=[3.0, 2.0, 2.5, 2.6, 2.1, 9.0, 9.0])
    callback = NTAveraging(patience=2)
    fit(module, callback, tmp_path, epochs=7)
    # no checks after the trigger:
    assert callback.history == pytest.approx([3.0, 2.0, 2.5, 2.6, 2.1])
    assert callback.triggered_at == 20  # after the 5th epoch's 4 steps each
    assert_same(callback.averaged_parameters(), mean(module.iterates[20:]))
    assert_same(module.validated_with[4], module.iterates[19])  # still the raw weights
    assert_same(module.validated_with[5], mean(module.iterates[20:24]))


def test_checkpoints_hold_the_average_and_resume_from_the_raw_weights(tmp_path):
    module, callback = Regression(), NTAveraging(patience=None, start_step=2)
    trainer = fit(module, callback, tmp_path, epochs=1)
    raw = module.iterates[-1]
    # fit ended with the average copied in: put the raw weights back, as in mid-training.
    with torch.no_grad():
        for parameter, value in zip(module.parameters(), raw):
            parameter.copy_(value)
    trainer.save_checkpoint(tmp_path / "mid.ckpt")
    checkpoint = torch.load(tmp_path / "mid.ckpt", weights_only=True)
    average = mean(module.iterates[1:])
    assert_same(list(checkpoint["state_dict"].values()), average)
    assert_same(list(checkpoint["current_model_state"].values()), raw)
    assert checkpoint["callbacks"]  # the trigger state travels too
    resumed_module, resumed = Regression(), NTAveraging(patience=None, start_step=2)
    fit(resumed_module, resumed, tmp_path, epochs=1)  # builds the average model
    resumed.load_state_dict(checkpoint["callbacks"][next(iter(checkpoint["callbacks"]))])
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False)
    trainer.state.fn = "fit"
    resumed.on_load_checkpoint(trainer, resumed_module, checkpoint)
    assert_same(list(resumed_module.parameters()), raw)
    assert_same(resumed.averaged_parameters(), average)
    assert resumed.triggered_at == 1


def test_before_the_trigger_nothing_is_swapped_or_replaced(tmp_path):
    module, callback = Regression(), NTAveraging(patience=5)
    trainer = fit(module, callback, tmp_path, epochs=2)
    assert callback.triggered_at is None and not callback.averaging
    assert_same(module.validated_with[1], module.iterates[-1])
    assert_same(list(module.parameters()), module.iterates[-1])
    trainer.save_checkpoint(tmp_path / "plain.ckpt")
    checkpoint = torch.load(tmp_path / "plain.ckpt", weights_only=True)
    assert "current_model_state" not in checkpoint
    assert_same(list(checkpoint["state_dict"].values()), module.iterates[-1])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "best"}, "mode: expected one of"),
        ({"patience": -1}, "patience: expected a non-negative integer"),
        ({"patience": None, "start_step": None}, "set at least one"),
    ],
)
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        NTAveraging(**options)
