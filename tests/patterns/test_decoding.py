"""Decoding tests: greedy, sampling and beam search against exhaustive enumeration."""

import itertools
import math
from collections import namedtuple

import pytest
import torch
from torch import nn

from rnnkit.patterns.decoding import (
    beam_search,
    filter_logits,
    greedy_decode,
    sample_decode,
    select_batch,
)

BOS, EOS = 0, 1


class TableDecoder:
    """Logits looked up in a per-example table: ``table[example, step, previous_token]``.

    The state is ``{"table": (B, S, V, V), "step": (B,)}``, so a wrong reorder_state changes
    the logits. Arithmetic is exact (no matmul), so batched and single runs agree bit for bit.
    """

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def initial_state(batch_size, max_steps, vocab_size, seed, eos_logit=None):
        generator = torch.Generator().manual_seed(seed)
        shape = (batch_size, max_steps, vocab_size, vocab_size)
        table = torch.randn(shape, generator=generator) * 2
        if eos_logit is not None:
            table[..., EOS] = eos_logit
        return {"table": table, "step": torch.zeros(batch_size, dtype=torch.long)}

    def step(self, tokens, state):
        self.calls += 1
        table, step = state["table"], state["step"]
        logits = table[torch.arange(len(tokens)), step.clamp(max=table.shape[1] - 1), tokens]
        return logits, {"table": table, "step": step + 1}

    def reorder_state(self, state, index):
        return select_batch(state, index)


class GRUDecoder(nn.Module):
    """Embedding + GRUCell + linear; its state keeps the batch in different dimensions.

    The eos logit grows with the step count, so sequences finish at varied lengths.
    """

    def __init__(self, vocab_size: int = 6, hidden_size: int = 8, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.cell = nn.GRUCell(hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, vocab_size)
        with torch.no_grad():
            self.output.weight.mul_(2.0)
        self.eos_bonus = torch.zeros(vocab_size)
        self.eos_bonus[EOS] = 0.3

    def initial_state(self, batch_size: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        hidden_size = self.cell.hidden_size
        return {
            "hidden": torch.randn(batch_size, hidden_size, generator=generator),
            "memory": (torch.randn(1, batch_size, hidden_size, generator=generator),),
            "step": torch.zeros(batch_size, 1),
        }

    def step(self, tokens, state):
        memory, step = state["memory"][0], state["step"]
        hidden = self.cell(self.embedding(tokens) + memory[0], state["hidden"])
        logits = self.output(hidden) + step * self.eos_bonus
        return logits, {"hidden": hidden, "memory": (memory,), "step": step + 1}

    def reorder_state(self, state, index):
        return {
            "hidden": state["hidden"].index_select(0, index),
            "memory": (state["memory"][0].index_select(1, index),),
            "step": state["step"].index_select(0, index),
        }


def enumerate_hypotheses(decoder, state, max_length: int, length_penalty: float):
    """Every hypothesis of one example with its log-probability, by depth-first expansion.

    A hypothesis ends with its first EOS, or has exactly ``max_length`` tokens.
    Returns a list of ``(normalized score, score, tokens)``.
    """
    results = []

    def expand(token, state, prefix, score):
        logits, state = decoder.step(torch.tensor([token]), state)
        log_probs = torch.log_softmax(logits.float(), dim=-1)[0]
        for next_token, log_prob in enumerate(log_probs):
            tokens, new_score = prefix + [next_token], score + log_prob
            if not math.isfinite(new_score):
                continue
            if next_token == EOS or len(tokens) == max_length:
                results.append(
                    (float(new_score) / len(tokens) ** length_penalty, new_score, tokens)
                )
            else:
                expand(next_token, state, tokens, new_score)

    expand(BOS, state, [], torch.tensor(0.0))
    return results


def hypotheses_of(result, example: int):
    """The (tokens, score) pairs of one example of a DecodeResult, padding stripped."""
    return [
        (result.tokens[example, n, :length].tolist(), result.scores[example, n].item())
        for n, length in enumerate(result.lengths[example].tolist())
    ]


def rescore(decoder, state, tokens: list[int]) -> float:
    """Log-probability of a token sequence by teacher forcing the model."""
    score, previous = 0.0, BOS
    for token in tokens:
        logits, state = decoder.step(torch.tensor([previous]), state)
        score += torch.log_softmax(logits.float(), dim=-1)[0, token].item()
        previous = token
    return score


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["table", "gru"])
def test_beam_size_one_equals_greedy(kind, seed):
    if kind == "table":
        decoder = TableDecoder()
        state = decoder.initial_state(5, max_steps=7, vocab_size=5, seed=seed)
    else:
        decoder = GRUDecoder(seed=seed)
        state = decoder.initial_state(5, seed=seed)
    greedy = greedy_decode(decoder, state, BOS, EOS, max_length=7, batch_size=5)
    beam = beam_search(decoder, state, BOS, EOS, 7, 5, beam_size=1, length_penalty=1.0)
    assert greedy.tokens.shape == (5, 1, greedy.lengths.max().item())
    assert torch.equal(beam.tokens, greedy.tokens)
    assert torch.equal(beam.lengths, greedy.lengths)
    assert torch.equal(beam.scores, greedy.scores)
    assert torch.equal(greedy.normalized_scores, greedy.scores)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
@pytest.mark.parametrize(("vocab_size", "max_length"), [(3, 3), (3, 4), (4, 3), (4, 4)])
def test_exhaustive_beam_matches_enumeration(vocab_size, max_length, length_penalty):
    B, n_best = 3, 3
    decoder = TableDecoder()
    state = decoder.initial_state(B, max_length, vocab_size, seed=vocab_size * 10 + max_length)
    # A beam at least as wide as the number of hypotheses explores all of them.
    beam_size = sum((vocab_size - 1) ** n for n in range(max_length + 1))
    result = beam_search(
        decoder, state, BOS, EOS, max_length, B, beam_size, length_penalty, n_best=n_best
    )
    assert result.tokens.shape[:2] == (B, n_best)
    for b in range(B):
        alone = select_batch(state, torch.tensor([b]))
        expected = sorted(
            enumerate_hypotheses(decoder, alone, max_length, length_penalty), reverse=True
        )
        assert expected[0][0] - expected[1][0] > 1e-4  # no near tie: the best is well defined
        got = hypotheses_of(result, b)
        assert [tokens for tokens, _ in got] == [tokens for _, _, tokens in expected[:n_best]]
        for (_, score), (_, expected_score, _) in zip(got, expected):
            assert score == pytest.approx(float(expected_score), abs=1e-5)
        expected_normalized = torch.tensor([h[0] for h in expected[:n_best]])
        torch.testing.assert_close(result.normalized_scores[b], expected_normalized)


def test_n_best_are_sorted_distinct_and_scored_by_the_model():
    decoder = GRUDecoder(seed=3)
    state = decoder.initial_state(4, seed=3)
    length_penalty = 0.7
    result = beam_search(decoder, state, BOS, EOS, 6, 4, beam_size=4, length_penalty=0.7, n_best=4)
    assert result.tokens.shape[:2] == result.lengths.shape == result.scores.shape == (4, 4)
    normalized = result.scores / result.lengths.float() ** length_penalty
    torch.testing.assert_close(result.normalized_scores, normalized)
    assert (result.normalized_scores[:, :-1] >= result.normalized_scores[:, 1:]).all()
    for b in range(4):
        alone = decoder.reorder_state(state, torch.tensor([b]))
        hypotheses = hypotheses_of(result, b)
        # Expanding from a single hypothesis: no duplicates from identical beam copies.
        assert len({tuple(tokens) for tokens, _ in hypotheses}) == 4
        for n, (tokens, score) in enumerate(hypotheses):
            assert EOS not in tokens[:-1]
            assert tokens[-1] == EOS or len(tokens) == 6
            assert result.tokens[b, n, len(tokens) :].eq(EOS).all()
            assert score == pytest.approx(rescore(decoder, alone, tokens), abs=1e-4)


@pytest.mark.parametrize("kind", ["table", "gru"])
def test_batched_beam_equals_one_example_at_a_time(kind):
    B, max_length = 4, 6
    if kind == "table":
        decoder = TableDecoder()
        state = decoder.initial_state(B, max_length, vocab_size=5, seed=0)
    else:
        decoder = GRUDecoder(seed=0)
        state = decoder.initial_state(B, seed=0)
    batched = beam_search(
        decoder, state, BOS, EOS, max_length, B, beam_size=3, n_best=2, length_penalty=0.5
    )
    for b in range(B):
        alone_state = decoder.reorder_state(state, torch.tensor([b]))
        alone = beam_search(
            decoder, alone_state, BOS, EOS, max_length, 1, beam_size=3, n_best=2, length_penalty=0.5
        )
        got, expected = hypotheses_of(batched, b), hypotheses_of(alone, 0)
        assert [tokens for tokens, _ in got] == [tokens for tokens, _ in expected]
        torch.testing.assert_close(batched.scores[b], alone.scores[0], rtol=0, atol=1e-5)


def test_always_terminates_when_eos_is_impossible():
    max_length = 5
    for name, decode, kwargs in [
        ("greedy", greedy_decode, {}),
        ("sample", sample_decode, {"generator": torch.Generator().manual_seed(0)}),
        ("beam", beam_search, {"beam_size": 4, "n_best": 4}),
    ]:
        decoder = TableDecoder()
        state = decoder.initial_state(3, max_length, 4, seed=5, eos_logit=float("-inf"))
        result = decode(decoder, state, BOS, EOS, max_length, 3, **kwargs)
        assert decoder.calls == max_length, name
        assert result.lengths.eq(max_length).all(), name
        assert result.tokens.shape[-1] == max_length and not result.tokens.eq(EOS).any(), name
        assert torch.isfinite(result.scores).all(), name


def test_greedy_stops_once_every_example_has_finished():
    decoder = TableDecoder()
    state = decoder.initial_state(2, 10, 4, seed=0, eos_logit=-30.0)
    state["table"][:, 2, :, EOS] = 30.0  # the third token is always eos
    result = greedy_decode(decoder, state, BOS, EOS, max_length=10, batch_size=2)
    assert decoder.calls == 3 and result.lengths.eq(3).all()
    assert result.tokens[:, 0, 2].eq(EOS).all() and not result.tokens[:, 0, :2].eq(EOS).any()


def test_per_example_bos_tensor():
    decoder = TableDecoder()
    state = decoder.initial_state(3, 5, 5, seed=2)
    bos = torch.tensor([0, 3, 4])
    batched = greedy_decode(decoder, state, bos, EOS, 5, 3)
    for b in range(3):
        alone = greedy_decode(
            decoder, select_batch(state, torch.tensor([b])), int(bos[b]), EOS, 5, 1
        )
        length = alone.lengths[0, 0]
        assert torch.equal(batched.tokens[b, 0, :length], alone.tokens[0, 0, :length])
        assert torch.equal(batched.scores[b], alone.scores[0])


@pytest.mark.parametrize("seed", range(3))
def test_sampling_with_top_k_one_equals_greedy(seed):
    decoder = GRUDecoder(seed=seed)
    state = decoder.initial_state(6, seed=seed)
    greedy = greedy_decode(decoder, state, BOS, EOS, 8, 6)
    generator = torch.Generator().manual_seed(seed)
    sampled = sample_decode(
        decoder, state, BOS, EOS, 8, 6, temperature=3.0, top_k=1, generator=generator
    )
    assert torch.equal(sampled.tokens, greedy.tokens)
    assert torch.equal(sampled.lengths, greedy.lengths)
    assert torch.equal(sampled.scores, greedy.scores)


def test_sampling_follows_the_filtered_tempered_distribution():
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
    temperature, top_k, draws = 0.7, 3, 30_000

    class Fixed:
        def step(self, tokens, state):
            return logits.expand(len(tokens), -1), state

        def reorder_state(self, state, index):
            return state

    generator = torch.Generator().manual_seed(0)
    result = sample_decode(
        Fixed(), None, BOS, EOS, 1, draws, temperature=temperature, top_k=top_k, generator=generator
    )
    counts = torch.bincount(result.tokens[:, 0, 0], minlength=5).double() / draws
    weights = [math.exp(v / temperature) if rank < top_k else 0.0 for rank, v in enumerate(logits)]
    expected = torch.tensor(weights, dtype=torch.float64) / sum(weights)
    # Standard error <= 0.003; the tolerance is over 6 of them, and the generator is seeded.
    torch.testing.assert_close(counts, expected, rtol=0, atol=0.02)
    log_probs = torch.log_softmax(logits, dim=-1)  # scores are the model's, not the sampler's
    torch.testing.assert_close(result.scores[:, 0], log_probs[result.tokens[:, 0, 0]])
    again = sample_decode(
        Fixed(), None, BOS, EOS, 1, draws, temperature, top_k, generator=generator.manual_seed(0)
    )
    assert torch.equal(again.tokens, result.tokens)


def test_filter_logits_top_k_keeps_the_k_largest():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, generator=generator)
    for k in range(1, 9):
        filtered = filter_logits(logits, top_k=k)
        for row, filtered_row in zip(logits.tolist(), filtered):
            kept = set(sorted(range(7), key=lambda i: row[i], reverse=True)[:k])
            for i in range(7):
                expected = row[i] if i in kept else float("-inf")
                assert filtered_row[i].item() == pytest.approx(expected)


def smallest_nucleus(probs: list[float], top_p: float) -> set[int]:
    """Brute force: among all token sets with mass >= top_p, the smallest (then most probable)."""
    best = None
    for size in range(1, len(probs) + 1):
        for subset in itertools.combinations(range(len(probs)), size):
            mass = sum(probs[i] for i in subset)
            if mass >= top_p and (best is None or mass > best[0]):
                best = (mass, set(subset))
        if best is not None:
            return best[1]
    raise AssertionError("unreachable: the full set has mass 1")


@pytest.mark.parametrize("top_p", [1e-6, 0.3, 0.5, 0.8, 0.95, 0.999])
def test_filter_logits_top_p_keeps_the_smallest_nucleus(top_p):
    generator = torch.Generator().manual_seed(int(top_p * 1000))
    logits = torch.randn(8, 6, generator=generator, dtype=torch.float64) * 2
    filtered = filter_logits(logits, top_p=top_p)
    for row, filtered_row in zip(logits, filtered):
        kept = smallest_nucleus(row.softmax(-1).tolist(), top_p)
        assert kept == {i for i in range(6) if filtered_row[i] > float("-inf")}
        assert torch.equal(filtered_row[list(kept)], row[list(kept)])


def test_filter_logits_edge_cases():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    assert torch.equal(filter_logits(logits), logits)
    assert torch.equal(filter_logits(logits, top_p=1.0), logits)
    assert torch.equal(filter_logits(logits, top_k=10), logits)
    # Four equal probabilities: two tokens reach exactly 0.5, which is enough.
    assert (filter_logits(torch.zeros(1, 4), top_p=0.5) > float("-inf")).sum() == 2
    # Nucleus of the 4 tokens: probabilities .644, .237, .087, .032 -> 3 tokens reach 0.9.
    assert (filter_logits(logits, top_p=0.9) > float("-inf")).tolist() == [[1, 1, 1, 0]]
    # top_k first, then the nucleus of the renormalised top 3: .665, .245 -> 2 tokens reach 0.9.
    both = filter_logits(logits, top_k=3, top_p=0.9)
    assert (both > float("-inf")).tolist() == [[0, 1, 1, 0]]
    batched = filter_logits(torch.randn(2, 3, 5), top_k=2)
    assert batched.shape == (2, 3, 5) and (batched > float("-inf")).sum(-1).eq(2).all()


def test_select_batch_handles_nested_states():
    state = {"h": torch.arange(3), "pair": (torch.arange(6).view(3, 2), None), "n": 7, "l": []}
    picked = select_batch(state, torch.tensor([2, 2, 0]))
    assert picked["h"].tolist() == [2, 2, 0]
    assert picked["pair"][0].tolist() == [[4, 5], [4, 5], [0, 1]] and picked["pair"][1] is None
    assert picked["n"] == 7 and picked["l"] == []
    assert select_batch(torch.arange(6).view(2, 3), torch.tensor([1]), dim=1).tolist() == [[1], [4]]
    Pair = namedtuple("Pair", ["first", "second"])
    picked = select_batch(Pair(torch.arange(3), [torch.arange(3) * 2]), torch.tensor([1, 0]))
    assert isinstance(picked, Pair) and isinstance(picked.second, list)
    assert picked.first.tolist() == [1, 0] and picked.second[0].tolist() == [2, 0]


@pytest.mark.parametrize(
    ("function", "kwargs", "match"),
    [
        (beam_search, {"beam_size": 0}, "beam_size"),
        (beam_search, {"beam_size": 2, "n_best": 3}, "n_best"),
        (beam_search, {"n_best": 0}, "n_best"),
        (beam_search, {"length_penalty": -1.0}, "length_penalty"),
        (sample_decode, {"temperature": 0.0}, "temperature"),
        (sample_decode, {"temperature": -1.0}, "temperature"),
        (sample_decode, {"top_k": 0}, "top_k"),
        (sample_decode, {"top_p": 0.0}, "top_p"),
        (sample_decode, {"top_p": 1.5}, "top_p"),
        (greedy_decode, {"max_length": 0}, "max_length"),
        (greedy_decode, {"batch_size": 0}, "batch_size"),
        (greedy_decode, {"bos": torch.zeros(3, dtype=torch.long)}, "bos"),
        (greedy_decode, {"eos": 9}, "eos"),
        (beam_search, {"eos": -1}, "eos"),
    ],
)
def test_bad_arguments_raise_value_errors(function, kwargs, match):
    decoder = TableDecoder()
    arguments = {
        "state": decoder.initial_state(2, 3, 4, seed=0),
        "bos": BOS,
        "eos": EOS,
        "max_length": 3,
        "batch_size": 2,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        function(decoder, **arguments)


def test_filter_logits_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"top_k: expected None or an int >= 1, got 0"):
        filter_logits(torch.zeros(3), top_k=0)
    with pytest.raises(ValueError, match=r"top_p: expected None or a value in \(0, 1\], got 2"):
        filter_logits(torch.zeros(3), top_p=2)


def test_wrong_logits_shape_is_a_value_error():
    class Flat:
        def step(self, tokens, state):
            return torch.zeros(len(tokens) * 4), state

        def reorder_state(self, state, index):
            return state

    with pytest.raises(ValueError, match=r"logits: expected .*\(2, V\), got \(8,\)"):
        greedy_decode(Flat(), None, BOS, EOS, 3, 2)
    with pytest.raises(ValueError, match=r"logits: expected .*\(6, V\), got \(24,\)"):
        beam_search(Flat(), None, BOS, EOS, 3, 2, beam_size=3)


def test_fewer_hypotheses_than_n_best_leaves_empty_slots():
    decoder = TableDecoder()
    state = decoder.initial_state(2, 2, vocab_size=2, seed=4)  # tokens: BOS=0 and EOS=1
    result = beam_search(decoder, state, BOS, EOS, 2, 2, beam_size=5, n_best=5, length_penalty=0)
    for b in range(2):  # the only hypotheses: [1], [0, 1] and [0, 0]
        expected = enumerate_hypotheses(decoder, select_batch(state, torch.tensor([b])), 2, 0.0)
        got = hypotheses_of(result, b)
        assert sorted(tokens for tokens, _ in got[:3]) == [[0, 0], [0, 1], [1]]
        assert len(expected) == 3 and result.lengths[b, 3:].eq(0).all()
        assert result.scores[b, 3:].eq(float("-inf")).all()
        assert torch.isfinite(result.scores[b, :3]).all()
