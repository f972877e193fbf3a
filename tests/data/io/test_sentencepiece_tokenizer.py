"""The SentencePiece tokenizer: trained on the training split only, lossless, stored as JSON."""

from __future__ import annotations

import json

import pytest

from rnnkit.data.io.sentencepiece_tokenizer import SentencePieceTokenizer
from rnnkit.data.translation.parallel_text import ParallelTextDataModule

TEXTS = [
    "a man in an orange hat starring at something .",
    "a boston terrier is running on lush green grass in front of a white fence .",
    "a girl in karate uniform breaking a stick with a front kick .",
    "five people wearing winter jackets and helmets stand in the snow .",
    "people are fixing the roof of a house .",
    "a man in light colored clothing photographs a group of men wearing dark suits .",
] * 3


@pytest.fixture(scope="module")
def tokenizer() -> SentencePieceTokenizer:
    fitted = SentencePieceTokenizer(vocab_size=60)
    fitted.fit(TEXTS)
    return fitted


@pytest.mark.parametrize("model_type", ["unigram", "bpe", "char"])
def test_detokenize_inverts_tokenize(model_type):
    tokenizer = SentencePieceTokenizer(vocab_size=40, model_type=model_type)
    tokenizer.fit(TEXTS)
    for text in [*TEXTS[:6], "a green house .", "  spaces   inside "]:
        pieces = tokenizer.tokenize(text)
        assert all(isinstance(p, str) and p for p in pieces)
        assert tokenizer.detokenize(pieces) == " ".join(text.split())


def test_to_json_is_plain_json_and_restores_the_same_model(tokenizer):
    data = json.loads(json.dumps(tokenizer.to_json()))
    assert data["name"] == "sentencepiece" and isinstance(data["model"], str)
    restored = SentencePieceTokenizer()
    restored.load_json(data)
    for text in ["a man in a green hat .", "zebra!"]:  # unseen characters included
        assert restored.tokenize(text) == tokenizer.tokenize(text)
    assert restored.vocab_size == 60


def test_training_is_deterministic(tokenizer):
    again = SentencePieceTokenizer(vocab_size=60)
    again.fit(list(TEXTS))
    assert again.model == tokenizer.model


def test_the_datamodule_trains_it_on_the_training_split_only(tmp_path, monkeypatch):
    seen: list[list[str]] = []
    original = SentencePieceTokenizer.fit

    def recording_fit(self, texts):
        seen.append(list(texts))
        original(self, seen[-1])

    monkeypatch.setattr(SentencePieceTokenizer, "fit", recording_fit)
    splits = {"train": TEXTS[:6], "val": ["a VALIDATION sentence ."], "test": ["QQQ test ."]}
    for prefix, lines in splits.items():
        for language in ("de", "en"):
            (tmp_path / f"{prefix}.{language}").write_text("".join(f"{x}\n" for x in lines))
    dm = ParallelTextDataModule(
        str(tmp_path),
        test_prefix="test",
        source_tokenizer="sentencepiece",
        target_tokenizer="sentencepiece",
        sentencepiece_vocab_size=50,
        lowercase=True,
    )
    dm.setup()
    assert seen == [TEXTS[:6], TEXTS[:6]]  # once per side, the (lower-cased) training text
    assert not any("validation" in token or "qqq" in token for token in dm.target_vocab.tokens)
    val = dm.collate([dm.datasets["val"][0]])
    assert dm.detokenize_target(val["target_tokens"][0]) == "a validation sentence ."


def test_unfitted_and_oversized_models_are_clear_errors():
    with pytest.raises(ValueError, match=r"^tokenizer: the sentencepiece tokenizer is not"):
        SentencePieceTokenizer().tokenize("a man")
    with pytest.raises(ValueError, match=r"^vocab_size: SentencePiece cannot learn 5000 pieces"):
        SentencePieceTokenizer(vocab_size=5000).fit(TEXTS)
    with pytest.raises(ValueError, match=r"^texts: expected training sentences"):
        SentencePieceTokenizer().fit(["", "  "])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"vocab_size": 1}, r"^vocab_size: expected an integer >= 2"),
        ({"vocab_size": True}, r"^vocab_size: expected"),
        ({"model_type": "wordpiece"}, r"^model_type: expected one of"),
        ({"character_coverage": 0}, r"^character_coverage: expected a number in \(0, 1\]"),
        ({"max_training_sentences": 100}, r"^max_training_sentences: expected an integer above"),
        ({"max_training_sentences": 2.5}, r"^max_training_sentences: expected an integer above"),
    ],
)
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        SentencePieceTokenizer(**arguments)


def test_loading_another_tokenizer_or_no_model_is_refused(tokenizer):
    with pytest.raises(ValueError, match=r"fitted tokenizer is 'whitespace'"):
        SentencePieceTokenizer().load_json({"name": "whitespace"})
    with pytest.raises(ValueError, match=r"has no model"):
        SentencePieceTokenizer().load_json({"name": "sentencepiece"})


def test_the_trainer_holds_a_bounded_sample_of_the_sentences(monkeypatch):
    import sentencepiece

    seen = {}
    train = sentencepiece.SentencePieceTrainer.train

    def recording(**options):
        seen.update(options)
        return train(**options)

    monkeypatch.setattr(sentencepiece.SentencePieceTrainer, "train", recording)
    texts = [f"{text} {number}" for number, text in enumerate(TEXTS * 20)]  # 360 sentences
    sampled = SentencePieceTokenizer(vocab_size=40, max_training_sentences=120)
    sampled.fit(texts)
    assert seen["input_sentence_size"] == 120 and seen["shuffle_input_sentence"] is True
    assert sampled.detokenize(sampled.tokenize(TEXTS[0])) == TEXTS[0]
    SentencePieceTokenizer(vocab_size=40, max_training_sentences=None).fit(texts)
    assert seen["input_sentence_size"] == 0  # SentencePiece's "all of them"
