"""Character-level word features: each word's characters read by a small network, the result
concatenated to the word's embedding (Lample et al. 2016; Ma & Hovy 2016 for the CNN).

::

    chars (N, L, W) ─▶ char embedding ─▶ BiLSTM per word ─▶ [h_fwd(last char); h_bwd(first char)]
                       (M, W, E_c)       (M words at once)   (N, L, 2 * H_c)        ─┐
    tokens (N, L) ───▶ word embedding ────────────────────────▶ (N, L, E_w) ─────────┴▶ concat
                                                                           (N, L, E_w + C)

Only the real words of the batch are encoded (``M = (word_lengths > 0).sum()``), each over its
own characters only, so padding (padded words, padded characters, their ids) never changes a
result: a word's feature vector is the same alone as in any padded batch, and padded word
positions get exactly zero character features.

Plain PyTorch (plus rnnkit's own :class:`~rnnkit.LSTM`): no Lightning, no Hydra.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.layers.standard import LSTM
from rnnkit.patterns._sequence import check_dropout, check_positive_int, last_from_state

CHAR_ENCODERS = ("lstm", "cnn")


def check_character_batch(
    chars: Tensor, word_lengths: Tensor | None, padding_idx: int
) -> tuple[Tensor, Tensor]:
    """Validate ``chars (N, L, W)`` and ``word_lengths (N, L)``; derive the lengths if None.

    Without ``word_lengths``, a word's length is its number of non-padding character ids.
    """
    if not isinstance(chars, Tensor) or chars.dim() != 3:
        shape = tuple(chars.shape) if isinstance(chars, Tensor) else type(chars).__name__
        raise ValueError(
            f"chars: expected character ids of shape (N, L, W) = (batch, words, characters), "
            f"got {shape}"
        )
    if chars.dtype.is_floating_point or chars.dtype == torch.bool:
        raise ValueError(f"chars: expected integer character ids, got {chars.dtype}")
    if word_lengths is None:
        word_lengths = (chars != padding_idx).sum(-1)
    word_lengths = torch.as_tensor(word_lengths, device=chars.device)
    if tuple(word_lengths.shape) != tuple(chars.shape[:2]):
        raise ValueError(
            f"word_lengths: expected shape {tuple(chars.shape[:2])} = (N, L) of chars, got "
            f"{tuple(word_lengths.shape)}"
        )
    if word_lengths.dtype.is_floating_point or word_lengths.dtype == torch.bool:
        raise ValueError(f"word_lengths: expected an integer tensor, got {word_lengths.dtype}")
    if word_lengths.numel() and (
        int(word_lengths.min()) < 0 or int(word_lengths.max()) > chars.shape[2]
    ):
        raise ValueError(
            f"word_lengths: expected values in [0, {chars.shape[2]}] (0 for a padded word, at "
            f"most W), got min {int(word_lengths.min())} and max {int(word_lengths.max())}"
        )
    return chars.long(), word_lengths.long()


class CharacterEncoder(nn.Module):
    """One feature vector per word, computed from the word's characters.

    ``encoder="lstm"`` (Lample et al. 2016): character embeddings run through a
    bidirectional LSTM; the word's vector is the forward state after its last character
    concatenated with the backward state after its first character, ``2 * hidden_size``
    features. ``encoder="cnn"`` (Ma & Hovy 2016): a 1-D convolution over the character
    embeddings (``hidden_size`` filters of width ``kernel_size``, zero padding) and a max over
    the word's characters, ``hidden_size`` features.

    Args:
        num_chars: size of the character vocabulary (ids in ``[0, num_chars)``).
        embedding_dim: character embedding size ``E_c`` (Lample et al.: 25).
        hidden_size: LSTM hidden size per direction, or number of CNN filters (25 / 30).
        encoder: ``"lstm"`` or ``"cnn"``.
        kernel_size: CNN filter width, odd (``"cnn"`` only).
        padding_idx: the padding character id (its embedding is zero and never trained).

    Shapes:
        chars: ``(N, L, W)`` long character ids, ``W`` the longest word of the batch.
        word_lengths: ``(N, L)`` long, characters per word, ``0`` for padded word positions;
            None derives them from ``chars != padding_idx``.
        returns: ``(N, L, output_size)``, zero where ``word_lengths == 0``.
    """

    def __init__(
        self,
        num_chars: int,
        embedding_dim: int = 25,
        hidden_size: int = 25,
        encoder: str = "lstm",
        kernel_size: int = 3,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        check_positive_int("num_chars", num_chars)
        check_positive_int("embedding_dim", embedding_dim)
        check_positive_int("hidden_size", hidden_size)
        if encoder not in CHAR_ENCODERS:
            raise ValueError(f"encoder: expected one of {CHAR_ENCODERS}, got {encoder!r}")
        check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size: expected an odd width (the output keeps the word's length), got "
                f"{kernel_size}"
            )
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, int):
            raise ValueError(f"padding_idx: expected a character id, got {padding_idx!r}")
        if not 0 <= padding_idx < num_chars:
            raise ValueError(f"padding_idx: expected an id in [0, {num_chars}), got {padding_idx}")
        self.encoder = encoder
        self.padding_idx = padding_idx
        self.embedding = nn.Embedding(num_chars, embedding_dim, padding_idx=padding_idx)
        if encoder == "lstm":
            self.rnn = LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
            self.output_size = 2 * hidden_size
        else:
            self.conv = nn.Conv1d(embedding_dim, hidden_size, kernel_size, padding=kernel_size // 2)
            self.output_size = hidden_size

    def forward(self, chars: Tensor, word_lengths: Tensor | None = None) -> Tensor:
        """Word vectors ``(N, L, output_size)`` from ``chars (N, L, W)`` (see the class)."""
        chars, word_lengths = check_character_batch(chars, word_lengths, self.padding_idx)
        batch_size, max_words = chars.shape[:2]
        real = word_lengths > 0  # (N, L)
        out = self.embedding.weight.new_zeros(batch_size, max_words, self.output_size)
        if not bool(real.any()):
            return out
        lengths = word_lengths[real]  # (M,)
        longest = int(lengths.max())
        words = chars[real][:, :longest]  # (M, W'), only the real words, trimmed
        steps = torch.arange(longest, device=chars.device)
        inside = steps.unsqueeze(0) < lengths.unsqueeze(1)  # (M, W')
        # Ids past a word's length are never read: they may be anything (padding, junk).
        embedded = self.embedding(words.masked_fill(~inside, self.padding_idx))
        if self.encoder == "lstm":
            _, final_state = self.rnn(embedded, lengths=lengths)
            vectors = last_from_state(final_state, num_directions=2)  # (M, 2H)
        else:
            features = self.conv(embedded.transpose(1, 2))  # (M, H, W')
            features = features.masked_fill(~inside.unsqueeze(1), float("-inf"))
            vectors = features.max(dim=2).values  # (M, H)
        return out.masked_scatter(real.unsqueeze(-1), vectors)

    def extra_repr(self) -> str:
        return f"encoder={self.encoder!r}, output_size={self.output_size}"


class WordCharacterEmbedding(nn.Module):
    """Word embedding concatenated with :class:`CharacterEncoder` features, then dropout.

    Lample et al. (2016) feed ``[word embedding; char BiLSTM]`` to the tagger's BiLSTM, with
    dropout on that concatenation.

    Args:
        vocab_size: words ``V`` (ids in ``[0, V)``); ``word_dim``: word embedding size ``E_w``.
        num_chars: character vocabulary size.
        char_embedding_dim, char_hidden_size, char_encoder, kernel_size: the
            :class:`CharacterEncoder`'s ``embedding_dim``, ``hidden_size``, ``encoder``,
            ``kernel_size``.
        dropout: on the concatenated vector (Lample et al.: 0.5).
        padding_idx: padding word id; ``char_padding_idx``: padding character id.

    Attributes:
        embedding_dim: the output size ``E_w + C`` (what the recurrent layer reads).

    Shapes:
        tokens: ``(N, L)`` long word ids. chars: ``(N, L, W)`` long character ids of the same
        words. word_lengths: ``(N, L)`` characters per word, 0 at padded word positions (None:
        counted from ``chars``). Returns ``(N, L, E_w + C)``.
    """

    def __init__(
        self,
        vocab_size: int,
        word_dim: int,
        num_chars: int,
        char_embedding_dim: int = 25,
        char_hidden_size: int = 25,
        char_encoder: str = "lstm",
        kernel_size: int = 3,
        dropout: float = 0.0,
        padding_idx: int | None = 0,
        char_padding_idx: int = 0,
    ) -> None:
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("word_dim", word_dim)
        self.word_embedding = nn.Embedding(vocab_size, word_dim, padding_idx=padding_idx)
        self.char_encoder = CharacterEncoder(
            num_chars,
            char_embedding_dim,
            char_hidden_size,
            char_encoder,
            kernel_size,
            char_padding_idx,
        )
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.embedding_dim = word_dim + self.char_encoder.output_size

    def forward(self, tokens: Tensor, chars: Tensor, word_lengths: Tensor | None = None) -> Tensor:
        """``(N, L, E_w + C)`` features of ``tokens (N, L)`` and their ``chars (N, L, W)``."""
        if not isinstance(tokens, Tensor) or tokens.dim() != 2:
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"tokens: expected word ids of shape (N, L), got {shape}")
        if isinstance(chars, Tensor) and chars.dim() == 3 and chars.shape[:2] != tokens.shape:
            raise ValueError(
                f"chars: expected shape ({tokens.shape[0]}, {tokens.shape[1]}, W), the words of "
                f"tokens {tuple(tokens.shape)}, got {tuple(chars.shape)}"
            )
        words = self.word_embedding(tokens)
        characters = self.char_encoder(chars, word_lengths)
        return self.dropout(torch.cat((words, characters), dim=-1))
