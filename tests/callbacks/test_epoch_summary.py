"""EpochSummary: one line per epoch without a progress bar, none with one."""

from __future__ import annotations

import logging

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.callbacks import EpochSummary


class Regression(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):  # noqa: ANN001
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):  # noqa: ANN001
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x), y), prog_bar=True)
        self.log("val/score", 1e-6 * (batch_idx + 1))  # not on the bar: shown as the monitor

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)  # lr 0: every epoch's loss is known


def fit(tmp_path, progress_bar: bool, always: bool = False) -> tuple[list[str], list[float]]:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(8, 2), torch.randn(8, 1))
    model = Regression()
    with torch.no_grad():
        losses = [
            float(torch.nn.functional.mse_loss(model.layer(x), y))
            for x, y in DataLoader(data, batch_size=4)
        ]
    trainer = pl.Trainer(
        max_epochs=2,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        logger=False,
        default_root_dir=tmp_path,
        callbacks=[
            EpochSummary(always=always),
            pl.callbacks.ModelCheckpoint(tmp_path, monitor="val/score"),
        ],
    )
    loader = DataLoader(data, batch_size=4)
    trainer.fit(model, loader, loader)
    return losses, trainer


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="rnnkit")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "rnnkit"]


def test_one_line_per_epoch_without_a_progress_bar(tmp_path, lines):
    losses, _ = fit(tmp_path, progress_bar=False)
    mean = sum(losses) / len(losses)
    logged = lines()
    assert [line.split("  ")[0] for line in logged] == ["epoch 1/2", "epoch 2/2"]
    for line in logged:
        fields = line.split("  ")
        name, value = fields[1].split()
        assert name == "train/loss" and float(value) == pytest.approx(mean, rel=1e-3)
        # val/score: the mean of 1e-6 and 2e-6, the monitored metric, to 4 significant digits
        assert fields[2].startswith("val/loss ") and fields[3] == "val/score 1.500e-06"
        assert fields[-1].startswith("(") and fields[-1].endswith(" s)")


def test_silent_beside_a_progress_bar_unless_always(tmp_path, lines):
    fit(tmp_path, progress_bar=True)
    assert lines() == []
    fit(tmp_path / "always", progress_bar=True, always=True)
    assert len(lines()) == 2
