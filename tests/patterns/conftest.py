"""Shared fixtures of the pattern tests.

Sections:
    * Encoders: the option matrix of recurrent layers every pattern is tested on,
      cell {rnn, lstm, gru, custom} x bidirectional x num_layers {1, 2}.
      - ``encoder_options`` (parametrized fixture): requesting it runs a test once per cell of
        the matrix; it is an :class:`EncoderOptions` with ``.build(input_size, hidden_size)``.
      - ``make_encoder`` (fixture): the builder function
        ``make_encoder(kind, input_size, hidden_size, num_layers=1, bidirectional=False,
        batch_first=True)``, for tests that pick their own options.
      - ``custom_cell`` (fixture): ``LeakyCell``, the "custom" kind, a minimal user cell
        subclassing RecurrentCell. (Use fixtures, not ``from conftest import``: several
        conftest.py files share that module name.)
    * Speed: ``single_thread``, opt-in.

Add fixtures for other concerns in their own section below.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

import rnnkit
from rnnkit.cells import RecurrentCell

# ---- Encoders ------------------------------------------------------------------------------

ENCODER_KINDS = ("rnn", "lstm", "gru", "custom")


class LeakyCell(RecurrentCell):
    r"""A minimal user cell: a leaky integrator with a two-tensor state ``(h, m)``.

    .. math::
        m_t = m_{t-1} + \alpha \odot (W x_t + U h_{t-1} - m_{t-1}), \qquad h_t = \tanh(m_t)

    with a learned rate :math:`\alpha = \sigma(\text{leak})`. It exercises what the standard
    cells do not: the Python loop runner (no fused kernel), a parameter of a nested module
    (``input_map``), and an output that is the first of two state components.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.input_map = nn.Linear(input_size, hidden_size)
        self.weight_hh = nn.Parameter(
            torch.empty(hidden_size, hidden_size).uniform_(-1, 1) / math.sqrt(hidden_size)
        )
        self.leak = nn.Parameter(torch.zeros(hidden_size))

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    def forward(self, input: Tensor, state=None):  # noqa: A002
        h, m = self.resolve_state(input, state)
        target = self.input_map(input) + h @ self.weight_hh.t()
        m = m + torch.sigmoid(self.leak) * (target - m)
        h = torch.tanh(m)
        return h, (h, m)


def make_encoder(
    kind: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = True,
) -> rnnkit.Recurrent:
    """A recurrent layer of ``kind`` in ENCODER_KINDS (float32; call ``.double()`` as needed)."""
    options = {
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "batch_first": batch_first,
    }
    if kind == "rnn":
        return rnnkit.RNN(input_size, hidden_size, **options)
    if kind == "lstm":
        return rnnkit.LSTM(input_size, hidden_size, **options)
    if kind == "gru":
        return rnnkit.GRU(input_size, hidden_size, **options)
    if kind == "custom":
        return rnnkit.Recurrent(LeakyCell, input_size, hidden_size, **options)
    raise ValueError(f"kind: expected one of {ENCODER_KINDS}, got {kind!r}")


class EncoderOptions(NamedTuple):
    """One cell of the encoder matrix."""

    kind: str
    bidirectional: bool
    num_layers: int

    def build(self, input_size: int, hidden_size: int, batch_first: bool = True):
        return make_encoder(
            self.kind, input_size, hidden_size, self.num_layers, self.bidirectional, batch_first
        )

    @property
    def id(self) -> str:
        return f"{self.kind}-{'bi' if self.bidirectional else 'uni'}-{self.num_layers}layer"


ENCODER_MATRIX = [
    EncoderOptions(kind, bidirectional, num_layers)
    for kind, bidirectional, num_layers in itertools.product(ENCODER_KINDS, (False, True), (1, 2))
]


@pytest.fixture(params=ENCODER_MATRIX, ids=[options.id for options in ENCODER_MATRIX])
def encoder_options(request) -> EncoderOptions:
    """Parametrizes the requesting test over the whole encoder matrix."""
    return request.param


@pytest.fixture(name="make_encoder")
def make_encoder_fixture():
    """The :func:`make_encoder` builder."""
    return make_encoder


@pytest.fixture
def custom_cell() -> type[RecurrentCell]:
    """The user cell class of the "custom" kind (:class:`LeakyCell`), for tests of cells."""
    return LeakyCell


# ---- Speed ---------------------------------------------------------------------------------


@pytest.fixture
def single_thread():
    """Run the test on one intra-op thread (restored after): tiny tensors gain nothing from
    threads, and on a busy machine two threads spin-wait and make a training loop ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
