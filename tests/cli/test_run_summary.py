"""What rnnkit-train and rnnkit-eval print last: checkpoints and metrics, readable."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from hydra_helpers import TINY_RUN, compose_run, one_thread
from rnnkit.cli.eval import evaluate
from rnnkit.cli.run_summary import eval_summary, train_summary
from rnnkit.cli.train import train


def significant_digits(text: str) -> set[int]:
    """How many significant digits each decimal number in ``text`` has."""
    numbers = re.findall(r"(?<![\w/.])(\d+\.\d+)(?:e[+-]\d+)?\b", text)
    return {len(n.replace(".", "").lstrip("0")) for n in numbers if n != "0"}


def paths_printed(out: str, kind: str) -> Path:
    return Path(re.search(rf"^{kind} checkpoint: (.+)$", out, re.M).group(1))


def test_train_then_eval_end_with_checkpoints_and_metrics(tmp_path, capsys):
    """The tagging and language-model runs too: every task ends with the same summary."""
    for experiment in ("tagging", "language_model"):
        folder = tmp_path / experiment
        with one_thread():
            train(compose_run([f"experiment={experiment}", *TINY_RUN], folder))
        out = capsys.readouterr().out
        best, last = paths_printed(out, "best"), paths_printed(out, "last")
        assert best == folder / "checkpoints" / "best.ckpt" and best.is_file()
        assert last == folder / "checkpoints" / "last.ckpt" and last.is_file()
        monitored = "val/acc" if experiment == "tagging" else "val/loss"
        assert re.search(rf"^best {monitored} = [0-9.e+-]+$", out, re.M)
        assert "test metrics of the best checkpoint (test/):" in out
        assert significant_digits(out.split(" steps)")[-1]) == {4}

        with one_thread():
            metrics = evaluate(compose_run([f"ckpt_path={best}"], folder, config_name="eval"))
        out = capsys.readouterr().out
        assert f"checkpoint: {best}" in out and "test metrics (test/):" in out
        assert set(metrics) >= {"test/loss"}


def fake_trainer(best="", score=None, last=""):
    checkpoint = SimpleNamespace(best_model_path=best, best_model_score=score, monitor="val/mape")
    return SimpleNamespace(
        current_epoch=3,
        global_step=120,
        checkpoint_callback=checkpoint if best else None,
        checkpoint_callbacks=[SimpleNamespace(last_model_path=last)],
    )


def test_summary_precision_large_and_small_values():
    metrics = {"test/mape": 123456789.123, "test/loss": 0.0000123, "val/mape": 98.7654}
    out = train_summary(metrics, 2.0, fake_trainer("b.ckpt", 98.7654, "l.ckpt"))
    assert "mape 1.235e+08" in out and "loss 1.230e-05" in out and "mape 98.77" in out
    assert "best val/mape = 98.77" in out
    assert "best checkpoint: b.ckpt" in out and "last checkpoint: l.ckpt" in out
    assert "0.0000" not in out and "123456789" not in out


def test_summary_without_checkpoints_says_so():
    out = train_summary({}, 1.0, fake_trainer())
    assert "best checkpoint: none" in out and "last checkpoint: none" in out
    assert eval_summary("x.ckpt", {}).endswith("no test metrics logged")


def test_summary_lines_stay_short():
    metrics = {f"test/metric_number_{i}": i / 7 for i in range(30)}
    out = train_summary(metrics, 1.0, fake_trainer())
    assert max(len(line) for line in out.splitlines()) <= 100
    assert all(f"metric_number_{i} " in out for i in range(30))
