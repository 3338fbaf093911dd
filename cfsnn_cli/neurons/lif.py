"""The binary baselines every ablation compares against: LIF, IF and PLIF."""

import math
from typing import Literal

from cfsnn_cli.errors import require
from cfsnn_cli.neurons.backends import Backend
from cfsnn_cli.neurons.base import SpikingNeuron
from cfsnn_cli.neurons.registry import NEURONS
from cfsnn_cli.options import InfiniteAllowed
from cfsnn_cli.surrogates import Surrogate

Reset = Literal["soft", "hard"]


@NEURONS.register("lif")
class LIFNeuron(SpikingNeuron):
    """Leaky integrate-and-fire: H = (1 − 1/τ)·V + X, S = Θ(H − θ), then
    V = H − θ·S (soft) or V = H·(1 − S) + v_reset·S (hard).

    The input is not scaled by 1/τ (SpikingJelly's `decay_input=False`). Spikes are binary {0, 1}.

    Args:
        tau: membrane time constant τ in time steps, τ ≥ 1 (default 2.0, β = 0.5); `inf` gives
            β = 1, no leak.
        learn_tau: learn β per layer (stored raw as w, β = sigmoid(w), started at 1 − 1/τ);
            needs 1 < τ < inf.
        threshold: θ > 0, in the units of the input X_t.
        learn_threshold: learn θ per layer (read through softplus, so it stays > 0).
        reset: "soft" (subtract θ) or "hard" (set V to `v_reset`) after a spike.
        v_reset: the potential a hard reset sets; unused by a soft reset.
        detach_reset: let no gradient flow through the reset.
        v_init: V_0, the potential before the first step.
        surrogate: this layer's surrogate gradient; None makes a fresh `SigmoidSurrogate()`.
        backend: the kernel, "auto" (default), "numba" or "torch"; the same results either way
            (`cfsnn_cli.neurons.backends`).
    """

    def __init__(
        self,
        tau: InfiniteAllowed = 2.0,
        learn_tau: bool = False,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        reset: Reset = "soft",
        v_reset: float = 0.0,
        detach_reset: bool = False,
        v_init: float = 0.0,
        surrogate: Surrogate | None = None,
        backend: Backend = "auto",
    ):
        require(reset in ("soft", "hard"), "reset", f"must be 'soft' or 'hard' (got {reset!r})")
        super().__init__(
            tau=tau,
            learn_tau=learn_tau,
            threshold=threshold,
            learn_threshold=learn_threshold,
            levels=1,
            bipolar=False,
            hard_reset=reset == "hard",
            v_reset=v_reset,
            detach_reset=detach_reset,
            v_init=v_init,
            surrogate=surrogate,
            backend=backend,
        )


@NEURONS.register("if")
class IFNeuron(LIFNeuron):
    """Integrate-and-fire: LIF with τ = ∞ (β = 1, no leak).

    Args:
        threshold: θ > 0, in the units of the input X_t.
        learn_threshold: learn θ per layer (read through softplus, so it stays > 0).
        reset: "soft" (subtract θ) or "hard" (set V to `v_reset`) after a spike.
        v_reset: the potential a hard reset sets; unused by a soft reset.
        detach_reset: let no gradient flow through the reset.
        v_init: V_0, the potential before the first step.
        surrogate: this layer's surrogate gradient; None makes a fresh `SigmoidSurrogate()`.
        backend: the kernel, "auto" (default), "numba" or "torch"; the same results either way
            (`cfsnn_cli.neurons.backends`).
    """

    def __init__(
        self,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        reset: Reset = "soft",
        v_reset: float = 0.0,
        detach_reset: bool = False,
        v_init: float = 0.0,
        surrogate: Surrogate | None = None,
        backend: Backend = "auto",
    ):
        super().__init__(
            math.inf, False, threshold, learn_threshold, reset, v_reset, detach_reset, v_init, surrogate, backend
        )


@NEURONS.register("plif")
class PLIFNeuron(LIFNeuron):
    """Parametric LIF: the decay β = sigmoid(w) is learned per layer, starting from 1 − 1/τ.

    Args:
        tau: the starting time constant τ in time steps, 1 < τ < inf (default 2.0, β = 0.5).
        threshold: θ > 0, in the units of the input X_t.
        learn_threshold: learn θ per layer (read through softplus, so it stays > 0).
        reset: "soft" (subtract θ) or "hard" (set V to `v_reset`) after a spike.
        v_reset: the potential a hard reset sets; unused by a soft reset.
        detach_reset: let no gradient flow through the reset.
        v_init: V_0, the potential before the first step.
        surrogate: this layer's surrogate gradient; None makes a fresh `SigmoidSurrogate()`.
        backend: the kernel, "auto" (default), "numba" or "torch"; the same results either way
            (`cfsnn_cli.neurons.backends`).
    """

    def __init__(
        self,
        tau: InfiniteAllowed = 2.0,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        reset: Reset = "soft",
        v_reset: float = 0.0,
        detach_reset: bool = False,
        v_init: float = 0.0,
        surrogate: Surrogate | None = None,
        backend: Backend = "auto",
    ):
        super().__init__(
            tau, True, threshold, learn_threshold, reset, v_reset, detach_reset, v_init, surrogate, backend
        )
