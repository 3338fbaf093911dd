"""Forward values of every neuron kind on short sequences worked out by hand.

Inputs are dyadic fractions so that every potential is exact in floating point and the expected
spikes follow from the equations with no rounding question.
"""

import math

import pytest
import torch

from cfsnn_cli.neurons import CFNeuron, IFNeuron, LIFNeuron, PLIFNeuron


def run(neuron, inputs):
    x = torch.tensor(inputs, dtype=torch.float64).reshape(-1, 1)
    return neuron.double()(x).flatten().tolist()


def test_cf_ternary_saturates_at_one_and_keeps_the_rest():
    # β = 0.5, θ = 1: H = 0.75 | 1.125 → +1, V = 0.125 | −2.4375 → −1, V = −1.4375 (rest kept) | ...
    neuron = CFNeuron(tau=2.0, threshold=1.0, levels=1, bipolar=True)
    assert run(neuron, [0.75, 0.75, -2.5, 0.25, 1.0]) == [0, 1, -1, 0, 0]


def test_cf_binary_single_level():
    neuron = CFNeuron(tau=2.0, threshold=1.0, levels=1, bipolar=False)
    # H = 0.75, 1.125 (fire, V = 0.125), 2.5625 (one spike only, V = 1.5625), −0.21875, 0.390625
    assert run(neuron, [0.75, 0.75, 2.5, -1.0, 0.5]) == [0, 1, 1, 0, 0]


def test_cf_three_levels_bipolar_saturates_at_plus_and_minus_three():
    # IF (β = 1), θ = 0.5: H = 1.25 → 2 (V 0.25) | 0.5 → 1, exactly θ fires (V 0) | 2.75 → 5 crossings,
    # capped at 3 (V 1.25) | −2.5 → −3 (V −1.0) | −0.75 → −1
    neuron = CFNeuron(tau=math.inf, threshold=0.5, levels=3, bipolar=True)
    assert run(neuron, [1.25, 0.25, 2.75, -3.75, 0.25]) == [2, 1, 3, -3, -1]


def test_cf_three_levels_unipolar_never_goes_negative():
    neuron = CFNeuron(tau=math.inf, threshold=0.5, levels=3, bipolar=False)
    assert run(neuron, [1.25, 0.25, 2.75, -3.75, 0.25]) == [2, 1, 3, 0, 0]


@pytest.mark.parametrize("levels,expected", [(1, [1, 1, 1, 0]), (3, [3, 0, 0, 0])])
def test_the_rest_above_saturation_circulates_into_later_steps(levels, expected):
    neuron = CFNeuron(tau=math.inf, threshold=1.0, levels=levels, bipolar=False)
    assert run(neuron, [3.0, 0.0, 0.0, 0.0]) == expected


def test_v_init_starts_the_membrane():
    # H_1 = β·v_init + X_1 = 0.5·1.0 + 0.5 = 1.0 fires; without v_init it does not
    assert run(CFNeuron(tau=2.0, v_init=1.0), [0.5]) == [1]
    assert run(CFNeuron(tau=2.0), [0.5]) == [0]


def test_lif_soft_reset():
    # β = 0.5, θ = 1: H = 1.5 → 1 (V 0.5) | 1.0 → 1 (V 0) | 0.5 | 0.25
    assert run(LIFNeuron(tau=2.0, threshold=1.0, reset="soft"), [1.5, 0.75, 0.5, 0.0]) == [1, 1, 0, 0]


def test_lif_hard_reset():
    # H = 1.5 → 1 (V = v_reset = 0) | 0.75 | 0.875 | 0.4375
    assert run(LIFNeuron(tau=2.0, threshold=1.0, reset="hard"), [1.5, 0.75, 0.5, 0.0]) == [1, 0, 0, 0]


def test_lif_hard_reset_to_a_negative_potential():
    # V after the first spike is −1: H = 0.75 − 0.5 = 0.25, then 0.125 + 1 = 1.125 fires
    assert run(LIFNeuron(tau=2.0, reset="hard", v_reset=-1.0), [1.5, 0.75, 1.0]) == [1, 0, 1]


def test_lif_equals_cf_with_one_unipolar_level():
    x = torch.randn(9, 4, 6, dtype=torch.float64)
    assert torch.equal(LIFNeuron(tau=3.0)(x), CFNeuron(tau=3.0, levels=1, bipolar=False)(x))


def test_if_never_leaks():
    assert run(IFNeuron(threshold=1.0), [0.5, 0.25, 0.25, 0.0]) == [0, 0, 1, 0]


def test_plif_starts_at_the_given_tau_and_learns_it():
    neuron = PLIFNeuron(tau=2.0)
    assert neuron.decay_value().item() == pytest.approx(0.5)
    assert [name for name, _ in neuron.named_parameters()] == ["raw_decay"]
    assert run(neuron, [1.5, 0.75, 0.5, 0.0]) == [1, 1, 0, 0]  # as LIF(τ=2)
