"""scripts/draw_learning_curves.py on a tiny synthetic run: PNG, TensorBoard figure, bad input."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "draw_learning_curves.py"
START = 1_700_000_000.0


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("draw_learning_curves", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run(tmp_path):
    """Three validations 1, 2 and 4 minutes after the start, a test value at 5 minutes."""
    folder = tmp_path / "run"
    with SummaryWriter(folder) as writer:
        writer.add_scalar("train/loss", 1.0, 0, walltime=START)
        for step, (minutes, value) in enumerate([(1, 0.7), (2, 0.6), (4, 0.65)]):
            writer.add_scalar("val/mse", value, step, walltime=START + 60 * minutes)
        writer.add_scalar("test/mse", 0.36, 3, walltime=START + 300)
    return folder


def test_reads_minutes_since_the_start_and_the_final_value(script, run):
    curve = script.run_curve("rnnkit", run, "val/mse", "test/mse", 100.0)
    assert curve.minutes == pytest.approx([1.0, 2.0, 4.0], abs=1e-3)
    assert curve.values == pytest.approx([70.0, 60.0, 65.0])
    assert curve.final == pytest.approx((5.0, 36.0), abs=1e-3)
    # a peer 2.5x slower, measured after 2 epochs: at 2.5 x the second validation's time
    assert script.parse_point("peer=79.6@2x2.5", curve) == pytest.approx(("peer", 5.0, 79.6))


def test_writes_the_png_and_logs_the_figure(script, run, tmp_path, capsys):
    output, log_dir = tmp_path / "images" / "curve.png", tmp_path / "tb"
    status = script.main(
        [
            "--run", f"rnnkit=mse={run}",  # the label may hold '='; the folder is after the last
            "--metric", "val/mse",
            "--final", "test/mse",
            "--line", "DLinear=0.375",
            "--point", "peer, 2 epochs=0.5@2x1.5",
            "--output", str(output),
            "--log-dir", str(log_dir),
        ]
    )  # fmt: skip
    assert status == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    images = EventAccumulator(str(log_dir), size_guidance={"images": 0}).Reload()
    (image,) = images.Images("learning_curve/val/mse")
    assert image.encoded_image_string[:4] == b"\x89PNG"
    assert str(output) in capsys.readouterr().out


def test_logs_into_the_run_folder_by_default(script, run, tmp_path):
    assert (
        script.main(
            ["--run", f"a={run}", "--metric", "val/mse", "--output", str(tmp_path / "c.png")]
        )
        == 0
    )
    images = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    assert "learning_curve/val/mse" in images.Tags()["images"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--metric", "val/f1"], r"run: no scalar 'val/f1' in its events; it has \['test/mse'"),
        (["--metric", "val/mse", "--point", "peer=0.5@4"], "the first run has 3 epochs"),
        (["--metric", "val/mse", "--point", "peer=0.5"], "expected LABEL=VALUE@EPOCHS"),
        (["--metric", "val/mse", "--line", "peer=high"], "--line 'peer=high': expected"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(script, run, tmp_path, capsys, arguments, message):
    status = script.main(["--run", f"a={run}", "--output", str(tmp_path / "c.png"), *arguments])
    error = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in error
    assert error.startswith("draw_learning_curves: ")
    assert re.search(message, error)
    assert not (tmp_path / "c.png").exists()


def test_a_folder_without_events_is_named(script, tmp_path, capsys):
    status = script.main(["--run", f"a={tmp_path}", "--metric", "val/mse", "--output", "x.png"])
    assert status == 2
    assert f"{tmp_path}: no TensorBoard event files" in capsys.readouterr().err
