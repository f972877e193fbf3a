"""Teacher-forcing schedules: endpoints, monotone decay, validation, and the Bernoulli mask."""

import math

import pytest
import torch

from rnnkit.patterns.teacher_forcing import TeacherForcingSchedule, use_teacher_forcing

STEPS = [0, 1, 2, 5, 10, 50, 99, 100, 101, 1_000, 10**6, 10**9]

DECAYING = [
    TeacherForcingSchedule("linear", start=0.9, end=0.1, decay_steps=100),
    TeacherForcingSchedule("linear", decay_steps=7),
    TeacherForcingSchedule("exponential", start=0.8, k=0.99),
    TeacherForcingSchedule("exponential", k=0.5),
    TeacherForcingSchedule("inverse_sigmoid", k=1.0),
    TeacherForcingSchedule("inverse_sigmoid", k=50.0),
]


@pytest.mark.parametrize("schedule", DECAYING, ids=lambda s: f"{s.kind}-{s.k}-{s.decay_steps}")
def test_decaying_schedules_are_monotone_and_in_range(schedule):
    ratios = [schedule(step) for step in range(0, 2_000, 7)] + [schedule(step) for step in STEPS]
    assert all(0.0 <= ratio <= 1.0 for ratio in ratios)
    ordered = [schedule(step) for step in sorted(set(range(0, 2_000, 7)) | set(STEPS))]
    assert all(a >= b for a, b in zip(ordered, ordered[1:]))
    assert ordered[0] > ordered[-1]  # it does decay


def test_constant_schedule():
    assert {TeacherForcingSchedule("constant", start=0.4)(step) for step in STEPS} == {0.4}
    assert {TeacherForcingSchedule()(step) for step in STEPS} == {1.0}


def test_linear_endpoints_and_clamp():
    schedule = TeacherForcingSchedule("linear", start=0.9, end=0.1, decay_steps=100)
    assert schedule(0) == pytest.approx(0.9)
    assert schedule(50) == pytest.approx(0.5)
    assert schedule(100) == pytest.approx(0.1)
    assert schedule(10**6) == pytest.approx(0.1)
    rising = TeacherForcingSchedule("linear", start=0.0, end=1.0, decay_steps=4)
    assert [rising(step) for step in range(6)] == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1])


def test_exponential_and_inverse_sigmoid_values():
    exponential = TeacherForcingSchedule("exponential", start=0.8, k=0.9)
    assert exponential(0) == pytest.approx(0.8)
    assert exponential(3) == pytest.approx(0.8 * 0.729)
    assert exponential(10**9) == 0.0
    inverse_sigmoid = TeacherForcingSchedule("inverse_sigmoid", k=10.0)
    assert inverse_sigmoid(0) == pytest.approx(10 / 11)
    assert inverse_sigmoid(20) == pytest.approx(10 / (10 + math.e**2))
    assert inverse_sigmoid(10**9) == 0.0  # no overflow
    assert inverse_sigmoid.schedule(20) == inverse_sigmoid(20)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "cosine"}, "kind: expected one of"),
        ({"kind": "constant", "start": 1.5}, r"start: expected a ratio in \[0, 1\], got 1.5"),
        ({"kind": "linear", "end": -0.1, "decay_steps": 3}, "end: expected a ratio"),
        ({"kind": "linear"}, "decay_steps: expected an int >= 1"),
        ({"kind": "linear", "decay_steps": 0}, "decay_steps: expected an int >= 1"),
        ({"kind": "linear", "decay_steps": 2.5}, "decay_steps: expected an int >= 1"),
        ({"kind": "exponential"}, r"k: expected a value in \(0, 1\)"),
        ({"kind": "exponential", "k": 1.0}, r"k: expected a value in \(0, 1\)"),
        ({"kind": "exponential", "k": 0.0}, r"k: expected a value in \(0, 1\)"),
        ({"kind": "inverse_sigmoid", "k": 0.5}, "k: expected a value >= 1"),
        ({"kind": "inverse_sigmoid"}, "k: expected a value >= 1"),
        ({"kind": "constant", "decay_steps": 10}, "decay_steps: not used by kind='constant'"),
        ({"kind": "inverse_sigmoid", "k": 5.0, "start": 1.0}, "start: not used"),
        ({"kind": "exponential", "k": 0.5, "end": 0.0}, "end: not used"),
    ],
)
def test_bad_schedule_parameters_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TeacherForcingSchedule(**kwargs)


def test_negative_step_is_an_error():
    with pytest.raises(ValueError, match="step: expected an int >= 0, got -1"):
        TeacherForcingSchedule()(-1)


@pytest.mark.parametrize("ratio", [0.0, 0.05, 0.25, 0.5, 0.7, 1.0])
def test_bernoulli_mask_mean_matches_the_ratio(ratio):
    draws = 200_000
    mask = use_teacher_forcing(ratio, draws, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (draws,) and mask.dtype == torch.bool
    # Standard error <= 0.0012; a tolerance of 0.01 is over 8 of them (and the seed is fixed).
    assert mask.double().mean().item() == pytest.approx(ratio, abs=0.01)
    if ratio in (0.0, 1.0):
        assert mask.all() if ratio == 1.0 else not mask.any()


def test_bernoulli_mask_is_per_example_and_reproducible():
    first = use_teacher_forcing(0.5, 64, generator=torch.Generator().manual_seed(1))
    again = use_teacher_forcing(0.5, 64, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert 0 < first.sum() < 64  # examples of one batch get different decisions
    assert use_teacher_forcing(0.5, 0).shape == (0,)


@pytest.mark.parametrize(
    ("ratio", "batch_size", "match"),
    [(1.2, 4, "ratio"), (-0.1, 4, "ratio"), (0.5, -1, "batch_size")],
)
def test_bernoulli_mask_rejects_bad_arguments(ratio, batch_size, match):
    with pytest.raises(ValueError, match=match):
        use_teacher_forcing(ratio, batch_size)
