"""rnnkit-predict as a Unix tool: inputs from a file or standard input, outputs to a file, JSON
Lines, quoted inputs through the override grammar, and no folders left behind."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.predict import main, predict
from rnnkit.cli.train import train

QUICK = [
    "experiment=sentiment",
    "cell.hidden_size=8",
    "model.embedding_dim=8",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.enable_progress_bar=false",
    "test=false",
]
TRICKY = 'it\'s, "quoted" -- a café; ça marche!'
"""An input with the characters the override grammar reserves, and accents."""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    with one_thread():
        train(compose_run(QUICK, run))
    return run / "checkpoints" / "best.ckpt"


def run_predict(checkpoint: Path, *overrides: str, cwd: Path, monkeypatch, stdin: str = ""):
    """``rnnkit-predict ckpt_path=<checkpoint> <overrides>`` run in ``cwd`` as the command
    line runs it (Hydra's own main, standard input and output), in this process: ``(exit code,
    standard output, standard error)``."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["rnnkit-predict", f"ckpt_path={checkpoint}", *overrides])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8"))))
    monkeypatch.delenv("RNNKIT_LOG_DIR", raising=False)
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    code = 0
    try:
        main()
    except SystemExit as exit:
        code = exit.code
    finally:
        GlobalHydra.instance().clear()
    return code, out.getvalue(), err.getvalue()


def test_input_file_lines_give_one_prediction_each_in_text_and_jsonl(checkpoint, tmp_path):
    inputs = tmp_path / "reviews.txt"
    inputs.write_text("not bad at all\n\na dull film\n", encoding="utf-8")
    text = predict(
        compose_run(
            [
                f"ckpt_path={checkpoint}",
                f"input_file={inputs}",
                f"output_file={tmp_path / 'o.txt'}",
            ],
            tmp_path,
            "predict",
        )
    )
    assert (tmp_path / "o.txt").read_text(encoding="utf-8").splitlines() == text
    assert [line.split("\t")[2] for line in text] == ["not bad at all", "a dull film"]
    cfg = compose_run(
        [f"ckpt_path={checkpoint}", f"input_file={inputs}", "output_format=jsonl"],
        tmp_path,
        "predict",
    )
    records = [json.loads(line) for line in predict(cfg)]
    assert [(r["input"], r["line"]) for r in records] == [("not bad at all", 1), ("a dull film", 3)]
    for record, line in zip(records, text):
        label, probability, _ = line.split("\t")
        assert record["label"] == label and f"{record['probability']:.3f}" == probability


def test_standard_input_to_jsonl_leaves_no_folder_behind(checkpoint, tmp_path, monkeypatch):
    code, out, err = run_predict(
        checkpoint,
        "input_file=-",
        "output_format=jsonl",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        stdin=f"{TRICKY}\nok\n",
    )
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in records] == [TRICKY, "ok"]
    assert {"label", "probability", "tokens"} <= set(records[0])
    assert list(tmp_path.iterdir()) == []  # no logs/, outputs/, .hydra or predict.log


def escape(text: str) -> str:
    """``text`` for ``input="..."``: each quote escaped, and backslashes doubled where they
    precede a quote or end the text (elsewhere a backslash is itself)."""
    quoted = re.sub(r'(\\*)"', lambda m: m.group(1) * 2 + '\\"', text)
    return re.sub(r"(\\+)$", lambda m: m.group(1) * 2, quoted)


def test_a_quoted_input_survives_commas_quotes_apostrophes_and_accents(
    checkpoint, tmp_path, monkeypatch
):
    # What the README tells a shell user to type: 'input="it'\''s, \"quoted\" ..."'.
    code, out, err = run_predict(
        checkpoint,
        f'input="{escape(TRICKY)}"',
        "output_format=jsonl",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    assert code == 0, err
    assert json.loads(out)["input"] == TRICKY
    code, out, err = run_predict(
        checkpoint, f"input={TRICKY}", cwd=tmp_path, monkeypatch=monkeypatch
    )
    assert code == 2 and err.startswith("rnnkit: error: ") and "Traceback" not in err


@pytest.mark.parametrize(
    "text",
    [TRICKY, "a, b", "l'été", 'say "hi"', "back\\slash", "end\\", 'q\\"', "x=1 ${y} [z] {w}"],
)
def test_the_readme_quoting_gives_back_any_text(text):
    """``input="<text, quotes escaped>"`` parses back to the text (Hydra's grammar)."""
    (override,) = OverridesParser.create().parse_overrides([f'input="{escape(text)}"'])
    assert override.value() == text


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        (["input_file=absent.txt"], 1, "file not found: absent.txt"),
        (["input=a", "input_file=b.txt"], 2, "input_file: give either input or input_file"),
        ([], 2, "input: expected a sentence, a prompt or a file path"),
    ],
)
def test_bad_inputs_end_in_one_line(checkpoint, tmp_path, monkeypatch, overrides, code, message):
    result, _, err = run_predict(checkpoint, *overrides, cwd=tmp_path, monkeypatch=monkeypatch)
    assert result == code
    assert err.strip().splitlines()[-1].startswith("rnnkit: error: " + message)
    assert "Traceback" not in err
