"""Character features for the tagger: the pattern against brute force, padding invariance, bad
input, and the tagging task wired to a CoNLL datamodule (train, checkpoint, predict)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.checkpoint import load_checkpoint, restore_task
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.patterns.char_embedding import CharacterEncoder, WordCharacterEmbedding
from rnnkit.tasks.tagging import TaggingTask

NUM_CHARS, CHAR_DIM, CHAR_HIDDEN = 11, 4, 3
ENCODERS = ["lstm", "cnn"]


def build(encoder: str, kernel_size: int = 3) -> CharacterEncoder:
    torch.manual_seed(0)
    return CharacterEncoder(NUM_CHARS, CHAR_DIM, CHAR_HIDDEN, encoder, kernel_size).double()


def brute_force(encoder: CharacterEncoder, word: torch.Tensor) -> torch.Tensor:
    """One word's vector, computed alone with torch's own modules (the oracle)."""
    embedded = encoder.embedding(word).unsqueeze(0)  # (1, W, E)
    if encoder.encoder == "lstm":
        lstm = nn.LSTM(CHAR_DIM, CHAR_HIDDEN, batch_first=True, bidirectional=True).double()
        lstm.load_state_dict(encoder.rnn.state_dict())  # rnnkit.LSTM uses torch's names
        outputs, _ = lstm(embedded)
        return torch.cat((outputs[0, -1, :CHAR_HIDDEN], outputs[0, 0, CHAR_HIDDEN:]))
    conv = encoder.conv
    features = F.conv1d(embedded.transpose(1, 2), conv.weight, conv.bias, padding=conv.padding)
    return features[0].max(dim=1).values


def random_batch(lengths: list[list[int]], width: int, junk: bool = True):
    """``chars (N, L, W)`` with random real ids and random junk (or 0) in every padding slot."""
    generator = torch.Generator().manual_seed(1)
    rows, columns = len(lengths), max(len(row) for row in lengths)
    word_lengths = torch.zeros(rows, columns, dtype=torch.long)
    for r, row in enumerate(lengths):
        word_lengths[r, : len(row)] = torch.tensor(row)
    chars = torch.randint(1, NUM_CHARS, (rows, columns, width), generator=generator)
    padding = torch.arange(width).view(1, 1, -1) >= word_lengths.unsqueeze(-1)
    filler = torch.randint(0, NUM_CHARS, chars.shape, generator=generator) if junk else 0
    return torch.where(padding, filler, chars), word_lengths


LENGTHS = [[3, 1, 5], [2], [4, 4]]


@pytest.mark.parametrize(
    ("encoder", "kernel_size"), [("lstm", 3), ("cnn", 1), ("cnn", 3), ("cnn", 5)]
)
def test_each_word_equals_brute_force_alone(encoder, kernel_size):
    model = build(encoder, kernel_size)
    chars, word_lengths = random_batch(LENGTHS, width=7)
    out = model(chars, word_lengths)
    assert out.shape == (3, 3, model.output_size)
    assert model.output_size == (2 * CHAR_HIDDEN if encoder == "lstm" else CHAR_HIDDEN)
    for r, row in enumerate(LENGTHS):
        for c, length in enumerate(row):
            expected = brute_force(model, chars[r, c, :length])
            torch.testing.assert_close(out[r, c], expected, rtol=0, atol=1e-12)
        assert not out[r, len(row) :].any()  # padded words: exactly zero


@pytest.mark.parametrize("encoder", ENCODERS)
def test_padding_never_changes_a_result(encoder):
    model = build(encoder)
    tight, tight_lengths = random_batch(LENGTHS, width=5, junk=False)
    wide = torch.zeros(4, 5, 9, dtype=torch.long)  # one more sentence, more words, wider
    wide[:3, :3, :5] = tight
    wide_lengths = torch.zeros(4, 5, dtype=torch.long)
    wide_lengths[:3, :3] = tight_lengths
    wide_lengths[3, 0], wide[3, 0, :2] = 2, torch.tensor([1, 2])
    junk = torch.randint(0, NUM_CHARS, wide.shape)
    inside = torch.arange(9).view(1, 1, -1) < wide_lengths.unsqueeze(-1)
    wide = torch.where(inside, wide, junk)
    torch.testing.assert_close(
        model(wide, wide_lengths)[:3, :3], model(tight, tight_lengths), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("encoder", ENCODERS)
def test_word_lengths_default_to_the_non_padding_ids(encoder):
    model = build(encoder)
    chars, word_lengths = random_batch(LENGTHS, width=6, junk=False)
    torch.testing.assert_close(model(chars), model(chars, word_lengths), rtol=0, atol=0)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_word_character_embedding_concatenates_and_trains(encoder):
    torch.manual_seed(0)
    embedding = WordCharacterEmbedding(9, 5, NUM_CHARS, CHAR_DIM, CHAR_HIDDEN, encoder)
    chars, word_lengths = random_batch(LENGTHS, width=6)
    tokens = torch.randint(1, 9, (3, 3))
    out = embedding(tokens, chars, word_lengths)
    assert out.shape == (3, 3, embedding.embedding_dim)
    assert embedding.embedding_dim == 5 + embedding.char_encoder.output_size
    torch.testing.assert_close(out[..., :5], embedding.word_embedding(tokens))
    out.sum().backward()
    assert embedding.char_encoder.embedding.weight.grad[1:].abs().sum() > 0
    assert not embedding.char_encoder.embedding.weight.grad[0].any()  # padding is not trained


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(torch.zeros(2, 3, dtype=torch.long)), r"^chars: expected character ids of"),
        (lambda m: m(torch.zeros(1, 2, 3)), r"^chars: expected integer character ids"),
        (
            lambda m: m(torch.ones(1, 2, 3, dtype=torch.long), torch.ones(2, 1, dtype=torch.long)),
            r"^word_lengths: expected shape \(1, 2\)",
        ),
        (
            lambda m: m(torch.ones(1, 2, 3, dtype=torch.long), torch.tensor([[1, 4]])),
            r"^word_lengths: expected values in \[0, 3\]",
        ),
        (
            lambda m: m(torch.ones(1, 2, 3, dtype=torch.long), torch.ones(1, 2)),
            r"^word_lengths: expected an integer tensor",
        ),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(build("lstm"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"encoder": "gru"}, r"^encoder: expected one of \('lstm', 'cnn'\)"),
        ({"encoder": "cnn", "kernel_size": 4}, r"^kernel_size: expected an odd width"),
        ({"hidden_size": 0}, r"^hidden_size: expected a positive integer"),
        ({"padding_idx": 11}, r"^padding_idx: expected an id in \[0, 11\)"),
    ],
)
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        CharacterEncoder(NUM_CHARS, **arguments)


def test_tokens_and_chars_must_describe_the_same_words():
    embedding = WordCharacterEmbedding(9, 5, NUM_CHARS)
    with pytest.raises(ValueError, match=r"^chars: expected shape \(2, 3, W\)"):
        embedding(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 4, 5, dtype=torch.long))


# ---- the tagging task -----------------------------------------------------------------------

SPEC = {
    "vocab_size": 20,
    "pad_index": 0,
    "num_tags": 3,
    "tag_names": ["O", "B-PER", "I-PER"],
    "tag_scheme": "BIO",
}
CELL = {"_target_": "rnnkit.LSTM", "hidden_size": 6, "bidirectional": True}
OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True}


def make_task(char_features=None, spec=SPEC) -> TaggingTask:
    model = {"embedding_dim": 8, "crf": True}
    if char_features is not None:
        model["char_features"] = char_features
    return TaggingTask(CELL, model, spec, OPTIMIZER)


def test_char_features_are_off_by_default_and_change_nothing():
    for config in (None, {"enabled": False, "embedding_dim": 25, "hidden_size": 25}):
        torch.manual_seed(0)
        task = make_task(config)
        assert task.char_embedding is None
        assert "model.input_layer.weight" in task.state_dict()
        torch.manual_seed(0)
        baseline = make_task()
        tokens, lengths = torch.randint(1, 20, (2, 4)), torch.tensor([4, 2])
        torch.testing.assert_close(task(tokens, lengths), baseline(tokens, lengths))


def test_enabled_char_features_feed_the_tagger():
    spec = {**SPEC, "char_vocab_size": NUM_CHARS, "char_pad_index": 0}
    task = make_task({"enabled": True, "embedding_dim": 4, "hidden_size": 3}, spec)
    assert task.model.rnn.input_size == 8 + 2 * 3
    chars, word_lengths = random_batch([[3, 2, 4, 1], [2, 5]], width=5)
    tokens, lengths = torch.randint(1, 20, (2, 4)), torch.tensor([4, 2])
    assert task(tokens, lengths, chars, word_lengths).shape == (2, 4, 3)
    with pytest.raises(ValueError, match=r"^chars: this tagger uses character features"):
        task(tokens, lengths)


@pytest.mark.parametrize(
    ("config", "spec", "message"),
    [
        ({"enabled": True}, SPEC, r"^model.char_features.enabled: .* no 'char_vocab_size'"),
        ({"enabled": "yes"}, SPEC, r"^model.char_features.enabled: expected true or false"),
        ({"enabled": True, "size": 3}, SPEC, r"^model.char_features.size: not a character"),
        ([25], SPEC, r"^model.char_features: expected a mapping"),
        (
            {"enabled": True, "encoder": "gru"},
            {**SPEC, "char_vocab_size": 5},
            r"^model.char_features.encoder: expected one of",
        ),
        (
            {"enabled": True, "hidden_size": -1},
            {**SPEC, "char_vocab_size": 5},
            r"^model.char_features.hidden_size: expected a positive integer",
        ),
        (
            {"enabled": True, "dropout": 1.5},
            {**SPEC, "char_vocab_size": 5},
            r"^model.char_features.dropout: expected a probability",
        ),
    ],
)
def test_bad_char_feature_configs_name_the_key(config, spec, message):
    with pytest.raises(ValueError, match=message):
        make_task(config, spec)


# ---- end to end: the CoNLL-2003 reference config on small fixture files ---------------------

TRAIN = [
    "EU NNP I-NP I-ORG",
    "rejects VBZ I-VP O",
    "German JJ I-NP I-MISC",
    "call NN I-NP O",
    "",
    "Peter NNP I-NP I-PER",
    "Blackburn NNP I-NP I-PER",
    "visited VBD I-VP O",
    "Paris NNP I-NP I-LOC",
    "",
]
FIXTURE = {
    "eng.train": "-DOCSTART- -X- O O\n\n" + "\n".join(TRAIN * 6) + "\n",
    "eng.testa": "-DOCSTART- -X- O O\n\n" + "\n".join(TRAIN[5:]) + "\n\n",
    "eng.testb": "-DOCSTART- -X- -X- O\n\n" + "\n".join(TRAIN[:5]) + "\n",
}
SMALL = [
    "num_threads=1",
    "data.batch_size=4",
    "data.min_frequency=1",
    "model.embedding_dim=8",
    "cell.hidden_size=8",
    "model.char_features.embedding_dim=4",
    "model.char_features.hidden_size=4",
    "trainer.enable_progress_bar=false",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    (root / "conll2003").mkdir()
    for name, text in FIXTURE.items():
        (root / "conll2003" / name).write_text(text)
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.mark.parametrize("encoder", ENCODERS)
def test_reference_config_runs_under_fast_dev_run(tmp_path, data_root, encoder):
    overrides = ["experiment=conll2003_bilstm_crf", f"paths.data_root={data_root}", *SMALL]
    overrides += [f"model.char_features.encoder={encoder}", "debug=fast_dev_run"]
    result = train(compose_run(overrides, tmp_path))
    assert result is not None and math.isfinite(result)


def test_train_checkpoint_and_predict_with_char_features(tmp_path, data_root, capsys):
    overrides = ["experiment=conll2003_bilstm_crf", f"paths.data_root={data_root}", *SMALL]
    overrides += [
        "trainer.max_epochs=2",
        "logger=csv",
        "test=false",
        "callbacks.model_summary=null",
    ]
    train(compose_run(overrides, tmp_path / "run"))
    capsys.readouterr()
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    loaded = load_checkpoint(checkpoint)
    assert "char_vocab" in loaded["rnnkit"]["artifacts"]
    task = restore_task(loaded)
    assert task.char_embedding is not None and task.hparams.data_spec["char_vocab_size"] > 2
    cfg = compose_run(
        [f"ckpt_path={checkpoint}", "input='Peter Zyxw visited Paris'"],
        tmp_path / "predict",
        config_name="predict",
    )
    lines = predict(cfg)
    assert len(lines) == 1 and capsys.readouterr().out.strip() == lines[0]
    tagged = lines[0].split("\t")[0].split()
    assert [part.rsplit("/", 1)[0] for part in tagged] == ["Peter", "Zyxw", "visited", "Paris"]
    assert all(part.rsplit("/", 1)[1] in task.tag_names for part in tagged)
