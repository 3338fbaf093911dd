"""The fixed-point membrane and the fake-quantised synapses, against what they claim to be: an
integer loop of the equations in neurons/fixed_point.py written here with Python integers, the
float layer where the integers are exact, and the float layer's gradients."""

import copy
import math

import pytest
import torch
from torch import nn

from cfsnn_cli.engine.synops import synaptic_operations
from cfsnn_cli.neurons import build_neuron
from cfsnn_cli.neurons.fixed_point import FixedPointMembrane, integer_neuron
from cfsnn_cli.quant.synapse import quantized_copy

CHANNELS = 3


def fixed_point_layer(kind: str, membrane: FixedPointMembrane, unit: torch.Tensor, **options) -> nn.Module:
    layer = build_neuron(kind, **options)
    layer.fixed_point = membrane
    layer.register_buffer("unit", unit)
    return layer


def decayed(v: int, beta: int, leak_bits: int, rounding: str) -> int:
    """The three roundings of the decay as their devices state them, in Python integers (// floors)."""
    scale = 1 << leak_bits
    if rounding == "toward_zero":  # Lava's LIF: sign(p)·(|p| >> F)
        return int(math.copysign(abs(beta * v) // scale, beta * v))
    if rounding == "leak_floor":  # Xylo: V − (V >> dash), the leak (1 − β)·V shifted
        return v - ((scale - beta) * v) // scale
    return (beta * v) // scale


def integer_loop(x_int, threshold, beta, fixed_point, levels, bipolar, hard, v_reset, v_init):
    """The spec's step, one neuron at a time, in Python integers."""
    low, high = -(1 << (fixed_point.membrane_bits - 1)), (1 << (fixed_point.membrane_bits - 1)) - 1
    v, spikes = v_init, []
    for x in x_int:
        h = min(max(decayed(v, beta, fixed_point.leak_bits, fixed_point.leak_rounding) + x, low), high)
        if bipolar:
            n = int(math.copysign(min(abs(h) // threshold, levels), h)) if h else 0
        else:
            n = min(max(h, 0) // threshold, levels)
        v = h - n * (h - v_reset) if hard else h - threshold * n
        spikes.append(n)
    return spikes


@pytest.mark.parametrize(
    ("kind", "options", "membrane"),
    [
        ("cf", {"levels": 3, "tau": 3.0, "threshold": 0.4}, FixedPointMembrane(24, 12)),
        ("cf", {"levels": 3, "tau": 3.0, "threshold": 0.4}, FixedPointMembrane(24, 12, "toward_zero")),
        ("cf", {"levels": 2, "tau": 8.0, "threshold": 0.4}, FixedPointMembrane(20, 5, "leak_floor")),
        ("cf", {"levels": 1, "tau": 2.0, "threshold": 0.3, "bipolar": False}, FixedPointMembrane(12, 6)),
        (
            "lif",
            {"reset": "hard", "v_reset": -0.2, "v_init": 0.1, "tau": 5.0, "threshold": 0.5},
            FixedPointMembrane(16, 9),
        ),
        ("lif", {"reset": "soft", "tau": math.inf, "threshold": 0.25}, FixedPointMembrane(10, 4)),
    ],
)
def test_the_layer_is_the_integer_loop_of_its_equations(kind, options, membrane):
    unit = torch.tensor([0.013, 0.0071, 0.021], dtype=torch.float64)
    layer = fixed_point_layer(kind, membrane, unit, **options)
    generator = torch.Generator().manual_seed(3)
    # large inputs too, so that the membrane saturates at its width (12 bits: ±2047) now and then
    x_int = torch.randint(-90, 120, (12, 4, CHANNELS), generator=generator).double()
    x_int[3] *= 40
    spikes = layer(x_int * unit)
    constants = integer_neuron(layer, unit, membrane)
    rule = layer.rule
    for c in range(CHANNELS):
        for b in range(4):
            want = integer_loop(
                [int(v) for v in x_int[:, b, c]],
                int(constants.threshold[c]),
                int(constants.beta),
                membrane,
                rule.levels,
                rule.bipolar,
                rule.hard_reset,
                int(constants.v_reset[c]),
                int(constants.v_init[c]),
            )
            assert spikes[:, b, c].tolist() == want, (c, b)
    assert spikes.abs().sum() > 0


@pytest.mark.parametrize(
    ("tau", "leak_bits", "beta_int"), [(2.0, 12, 2048), (4.0, 8, 192), (math.inf, 5, 32), (3.0, 4, 11)]
)
def test_the_decay_is_beta_in_leak_bits_rounded_to_nearest(tau, leak_bits, beta_int):
    layer = fixed_point_layer("cf", FixedPointMembrane(16, leak_bits), torch.ones(1, dtype=torch.float64), tau=tau)
    assert int(integer_neuron(layer, layer.unit, layer.fixed_point).beta) == beta_int


def test_with_no_leak_and_inputs_on_the_grid_it_is_the_float_layer_gradients_included():
    """β = 1 and X on the unit's grid: no rounding anywhere, so the spikes, and the surrogate
    gradients at the real potential, are the float layer's."""
    unit = torch.tensor([0.05, 0.02, 0.04], dtype=torch.float64)
    options = {"levels": 2, "tau": math.inf, "threshold": 0.6, "learn_threshold": True}
    quantised = fixed_point_layer("cf", FixedPointMembrane(24, 12), unit, **options)
    float_layer = build_neuron("cf", **options)
    x_int = torch.randint(-40, 40, (6, 5, CHANNELS), generator=torch.Generator().manual_seed(1)).double()
    x = (x_int * unit).float().requires_grad_()
    x_float = x.detach().clone().requires_grad_()
    out, want = quantised(x), float_layer(x_float)
    torch.testing.assert_close(out, want)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (want * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_float.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(quantised.raw_threshold.grad, float_layer.raw_threshold.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("layer", [nn.Linear(6, 4), nn.Conv2d(2, 4, 3, padding=1)])
def test_a_quantised_synapse_computes_integers_and_passes_the_float_gradient(layer):
    torch.manual_seed(0)
    float_layer = copy.deepcopy(layer)  # its own parameters: the quantised copy shares `layer`'s
    quantised = quantized_copy(layer, weight_bits=4)
    quantised.weight_step = layer.weight.detach().double().abs().flatten(1).amax(1) / 7
    quantised.input_step = torch.tensor(0.5, dtype=torch.float64)
    shape = (5, 6) if isinstance(layer, nn.Linear) else (5, 2, 4, 4)
    a = (torch.randint(0, 4, shape) * 0.5).requires_grad_()  # on the input's grid
    out = quantised(a)
    integers = quantised.integer_weight()
    assert integers.abs().max() == 7 and torch.equal(integers, integers.round())
    unit = (quantised.weight_step * quantised.input_step).float()
    channels = unit.reshape(-1, *([1] * (out.dim() - 2))) if out.dim() > 2 else unit
    accumulator = out.detach() / channels
    torch.testing.assert_close(accumulator, accumulator.round(), rtol=0, atol=1e-4)
    # straight through: the weights get the float layer's gradient for the same input
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    (float_layer(a.detach()) * upstream).sum().backward()
    torch.testing.assert_close(quantised.weight.grad, float_layer.weight.grad)
    assert quantised.weight is layer.weight  # one parameter, so the state dict keeps its name


def test_a_quantised_conv_counts_the_synaptic_operations_of_the_conv_it_is():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    events = (torch.rand(4, 2, 6, 6) > 0.7).float()
    assert synaptic_operations(quantized_copy(conv, 8), events) == synaptic_operations(conv, events) > 0
