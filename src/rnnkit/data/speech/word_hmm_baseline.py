"""The classical baseline of speech recognition: whole-word HMMs in a word loop.

What connected-word recognisers did before neural networks (the connected-digit systems of
Rabiner, Wilpon & Soong 1989; Rabiner & Juang 1993, ch. 7-8):

- **Models.** Every word of the training transcripts is a left-to-right HMM of
  ``states_per_character`` states per letter (at least ``min_states``); each state emits a
  mixture of ``mixtures`` diagonal Gaussians and has a self-loop probability. One silence
  state may sit before, between and after words.
- **Features.** Cepstra: the DCT of each normalised log-mel frame (its first ``n_cepstra``
  coefficients), with their deltas, the MFCC front end of those systems.
- **Training: segmental k-means**, from utterance-level transcripts only (no word boundaries).
  Each utterance is first cut evenly among the states of its transcript (a flat start). Then,
  ``iterations`` times, it is aligned by Viterbi to that state sequence (silences optional),
  and every state's emissions and self-loop probability are re-estimated from the frames
  aligned to it: one Gaussian in the first half of the iterations, then mixtures (fitted by
  scikit-learn's EM on the state's frames).
- **Recognition.** One-pass Viterbi over the loop of all words (any word may follow any other,
  with optional silence), paying a word insertion penalty. The penalty is chosen from
  ``PENALTIES`` by the word error rate on up to ``tuning_utterances`` training utterances.

It is a small-vocabulary recogniser: it knows the ``max_words`` most frequent training words,
trains on the utterances made of those words alone, and can say no other word. On a
large-vocabulary corpus such as LibriSpeech it is a weak floor, and where no training
utterance is made of those words alone it is not fitted at all (then no metric is logged).

hmmlearn, the well-kept Python HMM library, fits one model to whole sequences; it has no
models shared across the concatenations a transcript spells. So alignment and decoding are
written here, in torch, vectorised over utterances and states (loops run over frames only).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from scipy.fft import dct
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from torch import Tensor
from torchmetrics.functional.text import word_error_rate

SILENCE = 0
"""The state id of silence; word states follow it."""
PENALTIES = (40.0, 0.0, -20.0, -50.0, -100.0, -200.0, -400.0)
"""Word insertion log-penalties tried on training utterances."""
CHUNK = 64
"""The most utterances aligned or decoded at once."""
BACKPOINTER_BYTES = 256 * 2**20
"""The most memory the decoder's backpointers ``(utterances, T, states)`` int32 take at once:
fewer utterances are decoded together when they are long or the vocabulary is large."""


def cepstra(features: Tensor, lengths: Tensor, n_cepstra: int) -> Tensor:
    """``(N, T, 2 * n_cepstra)``: the DCT of each log-mel frame of ``features (N, T, M)``
    (first ``n_cepstra`` coefficients) and their deltas, ``(c[t+1] - c[t-1]) / 2`` with each
    utterance's first and last frame repeated past its ends (``lengths (N,)``)."""
    bands = features.shape[-1]
    basis = torch.as_tensor(dct(np.eye(bands), norm="ortho", axis=0)[:n_cepstra].T)
    c = features.double() @ basis
    steps = torch.arange(features.shape[1])
    last = (lengths.clamp(min=1) - 1)[:, None]
    after = torch.minimum(steps[None] + 1, last)
    before = (steps[None] - 1).clamp(min=0).expand_as(after)
    index = lambda i: i[..., None].expand(-1, -1, n_cepstra)  # noqa: E731
    delta = (c.gather(1, index(after)) - c.gather(1, index(before))) / 2
    return torch.cat([c, delta], -1)


class WordHMMRecogniser:
    """Whole-word HMMs trained by segmental k-means, decoded by Viterbi over a word loop.

    After :meth:`fit`: ``words`` (the vocabulary, most frequent first), ``first`` / ``last``
    ``(W,)`` state ids of each word's first and last state (silence is state 0), ``means`` /
    ``variances`` ``(S, K, D)`` and ``log_weights`` ``(S, K)`` (K = ``mixtures``),
    ``log_stay`` / ``log_move`` ``(S,)`` (self-loop and leave), ``penalty``.
    """

    def __init__(
        self,
        n_cepstra: int = 13,
        states_per_character: int = 2,
        min_states: int = 5,
        iterations: int = 6,
        max_words: int = 200,
        tuning_utterances: int = 200,
        mixtures: int = 4,
    ) -> None:
        self.mixtures = mixtures
        self.n_cepstra = n_cepstra
        self.states_per_character = states_per_character
        self.min_states = min_states
        self.iterations = iterations
        self.max_words = max_words
        self.tuning_utterances = tuning_utterances

    # ---- training ----------------------------------------------------------------------

    def fit(
        self, features: Sequence[Tensor], transcripts: Sequence[str]
    ) -> WordHMMRecogniser | None:
        """Train on utterances ``features[i] (T_i, M)`` (normalised log-mel frames) with their
        ``transcripts[i]`` (words separated by spaces). Utterances with a word outside the
        ``max_words`` most frequent, or too short for their words' states, are left out; None
        when none is left."""
        counts = Counter(word for text in transcripts for word in text.split())
        self.words = [word for word, _ in counts.most_common(self.max_words)]
        index = {word: i for i, word in enumerate(self.words)}
        sizes = [max(self.min_states, self.states_per_character * len(w)) for w in self.words]
        self.first = torch.tensor(np.cumsum([1, *sizes[:-1]]), dtype=torch.long)
        self.last = self.first + torch.tensor(sizes) - 1
        states = 1 + sum(sizes)
        utterances = []
        for frames, text in zip(features, transcripts):
            words = text.split()
            if words and all(w in index for w in words):
                sequence = self._state_sequence([index[w] for w in words])
                if frames.shape[0] >= len(sequence) - len(words) - 1:
                    utterances.append((frames, sequence))
        if not utterances:
            return None
        utterances.sort(key=lambda u: u[0].shape[0])
        x = [cepstra(f[None], torch.tensor([f.shape[0]]), self.n_cepstra)[0] for f, _ in utterances]
        pooled = torch.cat(x)
        self.variance_floor = 0.01 * pooled.var(0)
        self.means = pooled.mean(0).expand(states, 1, -1).clone()
        self.variances = pooled.var(0).expand(states, 1, -1).clone()
        self.log_weights = torch.zeros(states, 1, dtype=torch.float64)
        self.log_stay = torch.full((states,), math.log(0.5), dtype=torch.float64)
        # Flat start: every utterance cut evenly among its state sequence.
        paths = [s[torch.arange(len(f)) * len(s) // len(f)] for f, (_, s) in zip(x, utterances)]
        self._estimate(x, paths, 1)
        for iteration in range(self.iterations):
            paths = self._align(x, [s for _, s in utterances])
            kept = [i for i, p in enumerate(paths) if p is not None]
            # Mixtures only once single Gaussians have found the states (the second half).
            mixtures = self.mixtures if 2 * iteration >= self.iterations else 1
            self._estimate([x[i] for i in kept], [paths[i] for i in kept], mixtures)
        self.penalty = 0.0
        self._tune_penalty(utterances)
        return self

    def _state_sequence(self, words: list[int]) -> Tensor:
        """Silence, each word's states, silence between words and at the end."""
        sequence = [SILENCE]
        for word in words:
            sequence.extend(range(int(self.first[word]), int(self.last[word]) + 1))
            sequence.append(SILENCE)
        return torch.tensor(sequence, dtype=torch.long)

    def _estimate(self, x: list[Tensor], paths: list[Tensor], mixtures: int) -> None:
        """Each state's Gaussian mixture (``mixtures`` components, by scikit-learn's EM; one
        Gaussian where fewer than ``10 * mixtures`` frames reached it) and self-loop
        probability from the frames on ``paths``; a state no frame reached keeps its estimate
        (at first: the pooled frames')."""
        frames, path = torch.cat(x), torch.cat(paths)
        states = self.means.shape[0]
        if self.means.shape[1] != mixtures:
            self.means = self.means[:, :1].expand(-1, mixtures, -1).clone()
            self.variances = self.variances[:, :1].expand(-1, mixtures, -1).clone()
            self.log_weights = torch.full((states, mixtures), -math.log(mixtures)).double()
        count = torch.bincount(path, minlength=states)
        for state in torch.nonzero(count).flatten().tolist():
            mine = frames[path == state]
            if mixtures > 1 and len(mine) >= 10 * mixtures:
                with warnings.catch_warnings():  # a state's EM stopping at max_iter is fine
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    mixture = GaussianMixture(
                        mixtures, covariance_type="diag", max_iter=20, random_state=0
                    ).fit(mine.numpy())
                means, variances = mixture.means_, mixture.covariances_
                log_weights = np.log(mixture.weights_)
            else:
                means = mine.mean(0).expand(mixtures, -1)
                variances = mine.var(0, unbiased=False).expand(mixtures, -1)
                log_weights = np.full(mixtures, -math.log(mixtures))
            self.means[state] = torch.as_tensor(means)
            self.variances[state] = torch.maximum(torch.as_tensor(variances), self.variance_floor)
            self.log_weights[state] = torch.as_tensor(log_weights)
        stays = torch.cat([p[1:][p[1:] == p[:-1]] for p in paths])
        stay = torch.bincount(stays, minlength=states).double()
        seen = count > 0
        self.log_stay[seen] = (stay[seen] / count[seen]).clamp(0.05, 0.95).log()
        self.log_move = torch.log1p(-self.log_stay.exp())

    def _log_likelihoods(self, x: Tensor) -> Tensor:
        """``(N, T, S)`` log density of every state's Gaussian mixture at each frame of
        ``x (N, T, D)``."""
        means = self.means.flatten(0, 1)  # (S * K, D)
        variances = self.variances.flatten(0, 1)
        precision = 1.0 / variances
        constant = (means**2 * precision).sum(1) + variances.log().sum(1)
        constant = constant + x.shape[-1] * math.log(2 * math.pi)
        quadratic = (x**2) @ precision.T - 2 * x @ (means * precision).T
        components = -0.5 * (quadratic + constant) + self.log_weights.flatten()
        return components.unflatten(-1, self.log_weights.shape).logsumexp(-1)

    def _align(self, x: list[Tensor], sequences: list[Tensor]) -> list[Tensor | None]:
        """The Viterbi state path ``(T_i,)`` of each utterance through its state sequence
        (silences may be skipped); None where no path fits its frames."""
        paths: list[Tensor | None] = []
        for start in range(0, len(x), CHUNK):
            chunk_x, chunk_s = x[start : start + CHUNK], sequences[start : start + CHUNK]
            lengths = torch.tensor([len(f) for f in chunk_x])
            frames = torch.nn.utils.rnn.pad_sequence(chunk_x, batch_first=True)
            seq = torch.nn.utils.rnn.pad_sequence(chunk_s, batch_first=True)
            valid = torch.nn.utils.rnn.pad_sequence(
                [torch.ones(len(s), dtype=torch.bool) for s in chunk_s], batch_first=True
            )
            emissions = self._log_likelihoods(frames).gather(
                2, seq[:, None].expand(-1, frames.shape[1], -1)
            )
            emissions = emissions.masked_fill(~valid[:, None], -math.inf)
            stay, move = self.log_stay[seq], self.log_move[seq]
            # Position i may be entered from i - 2 when i - 1 is a silence (it is skipped).
            skip = torch.zeros_like(valid)
            skip[:, 2:] = seq[:, 1:-1] == SILENCE
            score = torch.full(seq.shape, -math.inf, dtype=torch.float64)
            score[:, :2] = emissions[:, 0, :2]
            back = torch.zeros(frames.shape[:2] + seq.shape[1:], dtype=torch.int8)
            for t in range(1, frames.shape[1]):
                leave = score + move
                options = torch.stack(
                    [
                        score + stay,
                        torch.nn.functional.pad(leave[:, :-1], (1, 0), value=-math.inf),
                        torch.nn.functional.pad(leave[:, :-2], (2, 0), value=-math.inf).masked_fill(
                            ~skip, -math.inf
                        ),
                    ]
                )
                best, choice = options.max(0)
                running = (t < lengths)[:, None]
                score = torch.where(running, best + emissions[:, t], score)
                back[:, t] = choice.to(torch.int8)
            ends = valid.sum(1) - 1
            rows = torch.arange(len(chunk_x))
            finals = torch.stack([score[rows, ends], score[rows, ends - 1]])
            final, shift = finals.max(0)
            position = ends - shift
            path = torch.zeros(frames.shape[:2], dtype=torch.long)
            for t in range(frames.shape[1] - 1, -1, -1):
                active = t < lengths
                path[:, t] = torch.where(active, seq[rows, position], 0)
                step = back[rows, t, position].long()
                position = torch.where(active & (t > 0), position - step, position)
            paths.extend(
                path[i, : lengths[i]] if torch.isfinite(final[i]) else None
                for i in range(len(chunk_x))
            )
        return paths

    def _tune_penalty(self, utterances: list[tuple[Tensor, Tensor]]) -> None:
        """The penalty of :data:`PENALTIES` with the fewest word errors on up to
        ``tuning_utterances`` training utterances, evenly spaced through them."""
        chosen = np.linspace(0, len(utterances) - 1, min(len(utterances), self.tuning_utterances))
        picked = [utterances[int(i)] for i in np.unique(chosen.round().astype(int))]
        features = [f for f, _ in picked]
        references = [self._words_of(sequence) for _, sequence in picked]
        lengths = torch.tensor([len(f) for f in features])
        padded = torch.nn.utils.rnn.pad_sequence(features, batch_first=True)
        errors = []
        for penalty in PENALTIES:
            self.penalty = penalty
            errors.append(float(word_error_rate(self.transcribe(padded, lengths), references)))
        self.penalty = PENALTIES[int(np.argmin(errors))]

    def _words_of(self, sequence: Tensor) -> str:
        """The words of a state sequence that visits each state once per stay (a word starts
        where its first state is)."""
        starts = torch.isin(sequence, self.first)
        return " ".join(
            self.words[int(i)] for i in torch.searchsorted(self.first, sequence[starts])
        )

    # ---- recognition -------------------------------------------------------------------

    @torch.no_grad()
    def transcribe(self, features: Tensor, lengths: Tensor) -> list[str]:
        """The words recognised in each utterance of ``features (N, T, M)`` (normalised log-mel
        frames, as batches hold them), ``lengths (N,)``: one string per utterance."""
        features, lengths = features.detach().cpu().double(), lengths.detach().cpu()
        texts: list[str] = []
        per_utterance = 4 * features.shape[1] * self.means.shape[0]
        rows = max(1, min(CHUNK, BACKPOINTER_BYTES // per_utterance))
        for start in range(0, features.shape[0], rows):
            chunk_lengths = lengths[start : start + rows]
            chunk = features[start : start + rows, : int(chunk_lengths.max())]
            texts.extend(self._decode(cepstra(chunk, chunk_lengths, self.n_cepstra), chunk_lengths))
        return texts

    def _decode(self, x: Tensor, lengths: Tensor) -> list[str]:
        count, steps = x.shape[:2]
        states = self.means.shape[0]
        emissions = self._log_likelihoods(x)
        entry = torch.zeros(states, dtype=torch.bool)
        entry[self.first] = True
        entry[SILENCE] = True
        exits = torch.cat([torch.tensor([SILENCE]), self.last])
        inside = ~entry  # entered from the state before it in the same word
        penalty = torch.where(entry, self.penalty, 0.0).double()
        penalty[SILENCE] = 0.0
        score = torch.where(entry, emissions[:, 0] + penalty, -math.inf)
        back = torch.zeros(count, steps, states, dtype=torch.int32)
        own = torch.arange(states, dtype=torch.int32)
        before = torch.nn.functional.pad(own[:-1], (1, 0))
        for t in range(1, steps):
            leave = score + self.log_move
            best_exit, exit_index = leave[:, exits].max(1)
            stay = score + self.log_stay
            advance = torch.nn.functional.pad(leave[:, :-1], (1, 0), value=-math.inf)
            advance = advance.masked_fill(~inside, -math.inf)
            enter = torch.where(entry, best_exit[:, None] + penalty, -math.inf)
            options = torch.stack([stay, advance, enter])
            best, choice = options.max(0)
            previous = (
                torch.stack(
                    [
                        own.expand(count, -1),
                        before.expand(count, -1),
                        exits[exit_index].to(torch.int32)[:, None].expand(-1, states),
                    ]
                )
                .gather(0, choice[None])
                .squeeze(0)
            )
            running = (t < lengths)[:, None]
            score = torch.where(running, best + emissions[:, t], score)
            back[:, t] = previous
        rows = torch.arange(count)
        state = exits[score[:, exits].argmax(1)]
        path = torch.zeros(count, steps, dtype=torch.long)
        for t in range(steps - 1, -1, -1):
            active = t < lengths
            path[:, t] = torch.where(active, state, path[:, t])
            previous = back[rows, t, state].long()
            state = torch.where(active & (t > 0), previous, state)
        texts = []
        for row in range(count):
            p = path[row, : int(lengths[row])]
            entered = torch.ones_like(p, dtype=torch.bool)
            entered[1:] = p[1:] != p[:-1]
            texts.append(self._words_of(p[entered]))  # each state once per visit
        return texts
