"""The whole-word HMM baseline of speech: its cepstra, its training from utterance-level
transcripts, its word-loop decoding, and the datamodule's fit on first use."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.fft import dct
from torchmetrics.functional.text import word_error_rate

from hydra_helpers import one_thread
from rnnkit.data.speech import datamodule as speech_datamodule
from rnnkit.data.speech import word_hmm_baseline
from rnnkit.data.speech.fsdd import FsddDigitsDataModule
from rnnkit.data.speech.word_hmm_baseline import PENALTIES, SILENCE, WordHMMRecogniser, cepstra
from speech_audio import write_fsdd_folder


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> FsddDigitsDataModule:
    """Connected "spoken" digits (two-tone chords) of two speakers, transcribed as figures."""
    folder = write_fsdd_folder(tmp_path_factory.mktemp("fsdd"))
    data = FsddDigitsDataModule(
        str(folder), transcript="digits", max_digits=3, train_passes=3, test_passes=2
    )
    data.setup("fit")
    data.setup("test")
    return data


def features_and_texts(data: FsddDigitsDataModule, split: str):
    examples = data.datasets[split]
    return [e["features"] for e in examples], [e["transcript"] for e in examples]


def transcribe(recogniser: WordHMMRecogniser, features: list[torch.Tensor]) -> list[str]:
    lengths = torch.tensor([len(f) for f in features])
    return recogniser.transcribe(
        torch.nn.utils.rnn.pad_sequence(features, batch_first=True), lengths
    )


@pytest.fixture(scope="module")
def trained(digits) -> WordHMMRecogniser:
    with one_thread():
        return WordHMMRecogniser(mixtures=2, iterations=4).fit(*features_and_texts(digits, "train"))


def test_cepstra_are_each_frames_dct_and_its_deltas_within_its_length():
    features = torch.randn(2, 6, 8, dtype=torch.float64)
    lengths = torch.tensor([6, 4])
    result = cepstra(features, lengths, 3)
    assert result.shape == (2, 6, 6)
    expected = torch.as_tensor(dct(features.numpy(), norm="ortho", axis=-1)[..., :3])
    torch.testing.assert_close(result[..., :3], expected)
    delta = result[..., 3:]
    torch.testing.assert_close(delta[0, 2], (expected[0, 3] - expected[0, 1]) / 2)
    torch.testing.assert_close(delta[0, 0], (expected[0, 1] - expected[0, 0]) / 2)
    # The last real frame of the shorter utterance repeats itself, not the padding after it.
    torch.testing.assert_close(delta[1, 3], (expected[1, 3] - expected[1, 2]) / 2)


def test_trained_on_transcripts_alone_it_recognises_unheard_utterances(digits, trained):
    features, texts = features_and_texts(digits, "test")
    assert sorted(trained.words) == [str(d) for d in range(10)]
    assert float(word_error_rate(transcribe(trained, features), texts)) < 0.1
    assert trained.penalty in PENALTIES


def test_transcripts_that_do_not_match_the_audio_teach_it_nothing(digits):
    features, texts = features_and_texts(digits, "train")
    shuffled = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))]
    recogniser = WordHMMRecogniser(mixtures=2, iterations=4).fit(features, shuffled)
    test_features, test_texts = features_and_texts(digits, "test")
    assert float(word_error_rate(transcribe(recogniser, test_features), test_texts)) > 0.5


def test_alignment_walks_each_words_states_in_order(digits, trained):
    features, texts = features_and_texts(digits, "train")
    index = {word: i for i, word in enumerate(trained.words)}
    sequence = trained._state_sequence([index[w] for w in texts[0].split()])
    frames = cepstra(features[0][None], torch.tensor([len(features[0])]), trained.n_cepstra)[0]
    (path,) = trained._align([frames], [sequence])
    assert len(path) == len(features[0])
    words = [w for w in sequence.tolist() if w != SILENCE]
    visited = [s for s in torch.unique_consecutive(path).tolist() if s != SILENCE]
    assert visited == words  # every word state once, in order; silences optional


def test_utterances_with_words_outside_the_vocabulary_are_left_out(digits):
    features, texts = features_and_texts(digits, "train")
    recogniser = WordHMMRecogniser(mixtures=1, iterations=1, max_words=2)
    kept = {w for w, _ in Counter(" ".join(texts).split()).most_common(2)}
    assert recogniser.fit(features, texts) is not None
    assert set(recogniser.words) == kept
    assert set(" ".join(transcribe(recogniser, features[:8])).split()) <= kept


def test_nothing_to_train_on_gives_none(digits):
    features, _ = features_and_texts(digits, "train")
    assert WordHMMRecogniser().fit(features[:3], ["", " ", ""]) is None
    assert WordHMMRecogniser().fit([features[0][:2]], ["1 2 3"]) is None  # too short to align


def test_the_datamodule_fits_it_once_on_at_most_its_cap(digits, monkeypatch):
    seen = []

    def fit(self, features, transcripts):
        seen.append(len(features))
        return self

    monkeypatch.setattr(WordHMMRecogniser, "fit", fit)
    monkeypatch.setattr(speech_datamodule, "HMM_MAX_UTTERANCES", 5)
    digits.__dict__.pop("_baselines", None)
    first = digits.word_hmm_baseline()
    assert isinstance(first, WordHMMRecogniser) and digits.word_hmm_baseline() is first
    assert seen == [5]
    digits.__dict__.pop("_baselines", None)


def test_the_datamodule_has_none_when_not_set_up(tmp_path: Path):
    data = FsddDigitsDataModule(str(write_fsdd_folder(tmp_path, indices=range(10))))
    assert data.word_hmm_baseline() is None


def test_long_batches_are_decoded_a_few_utterances_at_a_time_to_the_same_words(
    digits, trained, monkeypatch
):
    features, _ = features_and_texts(digits, "test")
    together = transcribe(trained, features[:6])
    monkeypatch.setattr(word_hmm_baseline, "BACKPOINTER_BYTES", 1)  # one utterance at a time
    assert transcribe(trained, features[:6]) == together
