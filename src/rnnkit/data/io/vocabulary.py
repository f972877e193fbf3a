"""Token vocabularies, fitted on training data only and stored as JSON (never pickled)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"

# The default cap of word vocabularies (specials included): rarer words become <unk>, so the
# embedding, the softmax and every checkpoint stay bounded however large the corpus.
DEFAULT_MAX_SIZE = 50_000


class Vocabulary:
    """A bijection between tokens and ids; ``<pad>`` is always id 0.

    >>> vocab = Vocabulary.fit([["a", "b", "a"]], specials=(PAD, UNK))
    >>> vocab.encode(["a", "zzz"])
    [2, 1]
    """

    def __init__(self, tokens: Sequence[str], unknown: str | None = UNK) -> None:
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens: expected distinct tokens, got duplicates")
        if not tokens or tokens[0] != PAD:
            raise ValueError(f"tokens: expected {PAD!r} first (id 0), got {list(tokens[:1])}")
        if unknown is not None and unknown not in tokens:
            raise ValueError(f"unknown: {unknown!r} is not one of the tokens")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}
        self.unknown = unknown

    @classmethod
    def fit(
        cls,
        sequences: Iterable[Sequence[str]],
        specials: Sequence[str] = (PAD, UNK),
        min_frequency: int = 1,
        max_size: int | None = None,
    ) -> Vocabulary:
        """Build from training sequences: specials first, then tokens by decreasing frequency
        (ties broken alphabetically, so the result does not depend on data order)."""
        counts: Counter = Counter()
        for sequence in sequences:
            counts.update(sequence)
        return cls.from_counts(counts, specials, min_frequency, max_size)

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        specials: Sequence[str] = (PAD, UNK),
        min_frequency: int = 1,
        max_size: int | None = None,
    ) -> Vocabulary:
        """:meth:`fit` from token counts already made (e.g. chunk by chunk)."""
        if min_frequency < 1:
            raise ValueError(f"min_frequency: expected >= 1, got {min_frequency}")
        if max_size is not None and max_size < len(specials):
            raise ValueError(
                f"max_vocab_size: expected at least {len(specials)} (the special tokens "
                f"{list(specials)}), got {max_size}"
            )
        kept = {
            token: count
            for token, count in counts.items()
            if count >= min_frequency and token not in specials
        }
        ranked = sorted(kept, key=lambda token: (-kept[token], token))
        if max_size is not None:
            ranked = ranked[: max_size - len(specials)]
        return cls(list(specials) + ranked, unknown=UNK if UNK in specials else None)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    @property
    def pad_index(self) -> int:
        return 0

    def id(self, token: str) -> int:
        """Id of ``token``; the unknown id for an unseen token when the vocabulary has one."""
        found = self.index.get(token)
        if found is not None:
            return found
        if self.unknown is None:
            raise ValueError(f"token {token!r} is not in the vocabulary and it has no {UNK}")
        return self.index[self.unknown]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.id(token) for token in tokens]

    def encode_counting(self, tokens: Sequence[str]) -> tuple[list[int], int]:
        """:meth:`encode`, and how many tokens were outside the vocabulary."""
        ids = list(map(self.index.get, tokens, repeat(-1)))
        unknown = ids.count(-1)
        if unknown:
            if self.unknown is None:
                missing = next(t for t, i in zip(tokens, ids) if i < 0)
                raise ValueError(f"token {missing!r} is not in the vocabulary and it has no {UNK}")
            fallback = self.index[self.unknown]
            ids = [fallback if i < 0 else i for i in ids]
        return ids, unknown

    def decode(self, ids: Iterable[int], strip: Sequence[str] = (PAD, BOS, EOS)) -> list[str]:
        """Tokens of ``ids``, without the special tokens listed in ``strip``; stops at EOS."""
        out = []
        for i in ids:
            token = self.tokens[int(i)]
            if token == EOS:
                break
            if token not in strip:
                out.append(token)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "unknown": self.unknown}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocabulary:
        return cls(data["tokens"], unknown=data.get("unknown"))
