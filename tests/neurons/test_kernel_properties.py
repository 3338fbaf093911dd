"""Property-based: every kernel equals the plain autograd reference on random shapes, every neuron
kind and option, every surrogate and learnable mode.

Spikes must be identical, so the inputs are built to keep every membrane potential H at least 5 %
of θ away from a firing threshold: the test draws H_t/θ as an integer plus a fraction in
[0.05, 0.95] and solves H_t = β·V_{t−1} + X_t for the input X_t.
"""

import math

import numpy as np
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cfsnn_cli.neurons import NEURONS, build_neuron
from cfsnn_cli.neurons.backends import BACKENDS
from cfsnn_cli.neurons.fused import fused_kernel_runs
from cfsnn_cli.neurons.triton_elementwise import slope_fits_triton
from cfsnn_cli.options import options_model
from cfsnn_cli.surrogates import LEARNABLE_MODES, SURROGATES, Surrogate
from cfsnn_cli.surrogates.elementwise import constant, exp_of_nonpositive
from tests.neurons.kernel_check import KERNELS, assert_kernel_matches_reference

MARGIN = 0.05  # the nearest any H/θ comes to a whole number

# a strategy for every neuron option any kind accepts; each kind draws the ones its signature has
NEURON_OPTIONS = {
    "tau": st.one_of(st.floats(1.0, 8.0), st.just(math.inf)),
    "learn_tau": st.booleans(),
    "threshold": st.floats(0.25, 2.0),
    "learn_threshold": st.booleans(),
    "levels": st.integers(1, 4),
    "bipolar": st.booleans(),
    "reset": st.sampled_from(["soft", "hard"]),
    "v_reset": st.floats(-0.5, 0.5),
    "detach_reset": st.booleans(),
    "v_init": st.floats(-1.0, 1.0),
    "backend": st.sampled_from(BACKENDS),  # the kernel under test is `kernel` below; this only builds
}


class GaussianSurrogate(Surrogate):
    """A surrogate kind cfsnn does not ship, written as a user would: only F and F'. Its F'
    calls `exp_of_nonpositive`, so it also exercises an elementwise function no built-in F' uses
    directly."""

    default_alpha = 2.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        return (1 + torch.special.erf(z)) / 2

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        return constant(1 / math.sqrt(math.pi), z) * exp_of_nonpositive(-(z * z))


SHIPPED_SURROGATES = [SURROGATES.get(kind) for kind in SURROGATES.kinds()]


@st.composite
def neurons(draw, surrogates=tuple(SHIPPED_SURROGATES)):
    kind = draw(st.sampled_from(NEURONS.kinds()))
    accepted = options_model(NEURONS.get(kind)).model_fields
    unknown = set(accepted) - set(NEURON_OPTIONS)
    assert not unknown, f"no strategy for the {kind} options {unknown}: add one to NEURON_OPTIONS"
    options = {name: draw(NEURON_OPTIONS[name]) for name in accepted}
    learns_decay = options.get("learn_tau", kind == "plif")  # PLIF always learns its decay
    if learns_decay and not 1 < options["tau"] < math.inf:
        options["tau"] = 2.0  # a learnable decay needs a leak to start from
    timesteps = draw(st.integers(1, 12))
    surrogate = draw(st.sampled_from(surrogates))(
        alpha=draw(st.floats(0.5, 6.0)),
        alpha_min=0.1,
        learnable=draw(st.sampled_from(LEARNABLE_MODES)),
        timesteps=timesteps,
    )
    return build_neuron(kind, **options, surrogate=surrogate), timesteps


@st.composite
def inputs_away_from_thresholds(draw, neuron, timesteps: int) -> torch.Tensor:
    trailing = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    shape = (timesteps, *trailing)
    reach = neuron.rule.levels + 1
    whole = draw(hnp.arrays(np.int64, shape, elements=st.integers(-reach, reach)))
    fraction = draw(hnp.arrays(np.float64, shape, elements=st.floats(MARGIN, 1 - MARGIN)))
    ratios = torch.from_numpy(whole + fraction)
    assume(off_the_box_edges(neuron, ratios * neuron.threshold_value().double().detach()))
    with torch.no_grad():
        beta, threshold = neuron.decay_value().double(), neuron.threshold_value().double()
        v = torch.full(shape[1:], neuron.rule.v_init, dtype=torch.float64)
        x = torch.empty(shape, dtype=torch.float64)
        for t in range(timesteps):
            h = ratios[t] * threshold
            x[t] = h - beta * v
            v = neuron.rule.reset(h, neuron.rule.count(h, threshold), threshold)
    return x


def off_the_box_edges(neuron, potentials: torch.Tensor) -> bool:
    """The rectangle surrogate's F' jumps at |α·u| = 1/2, where autograd (through a clamp) and the
    closed form rightly take different one-sided values; such inputs are no evidence either way."""
    if not isinstance(neuron.surrogate, SURROGATES.get("rectangle")):
        return True
    alphas = neuron.surrogate.alpha_values().double()
    threshold = neuron.threshold_value().double()
    for t, h in enumerate(potentials):
        alpha = alphas[t] if alphas.numel() > 1 else alphas[0]
        for k in range(1, neuron.rule.levels + 1):
            for u in (h - k * threshold, -h - k * threshold):
                if torch.any(((alpha * u).abs() - 0.5).abs() < 1e-9):
                    return False
    return True


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kernel=st.sampled_from(sorted(KERNELS)))
def test_kernel_equals_reference_for_any_shape_and_option(data, kernel):
    neuron, timesteps = data.draw(neurons())
    x = data.draw(inputs_away_from_thresholds(neuron, timesteps))
    assert_kernel_matches_reference(neuron, x, kernel)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=40)
@given(data=st.data(), kernel=st.sampled_from(["numba-fused", "triton"]))
def test_a_new_surrogate_kind_written_as_F_and_F_prime_runs_fused_and_equals_the_reference(data, kernel):
    neuron, timesteps = data.draw(neurons(surrogates=(GaussianSurrogate,)))
    x = data.draw(inputs_away_from_thresholds(neuron, timesteps))
    assert fused_kernel_runs(x, neuron.rule) and fused_kernel_runs(x.float(), neuron.rule)
    assert slope_fits_triton(GaussianSurrogate.derivative)
    assert_kernel_matches_reference(neuron, x, kernel)
