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
        reset: "soft" (subtract θ) or "hard" (set V to `v_reset`) after a spike.

    The other arguments are as in `SpikingNeuron`, but for levels and bipolar (1 and False: binary
    spikes).
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

    Args: as in `LIFNeuron`, but for tau and learn_tau (τ = ∞, not learned).
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
            tau=math.inf,
            learn_tau=False,
            threshold=threshold,
            learn_threshold=learn_threshold,
            reset=reset,
            v_reset=v_reset,
            detach_reset=detach_reset,
            v_init=v_init,
            surrogate=surrogate,
            backend=backend,
        )


@NEURONS.register("plif")
class PLIFNeuron(LIFNeuron):
    """Parametric LIF: the decay β = sigmoid(w) is learned per layer, starting from 1 − 1/τ.

    Args:
        tau: the starting time constant τ in time steps, 1 < τ < inf (default 2.0, β = 0.5).

    The other arguments are as in `LIFNeuron`, but for learn_tau (always learned).
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
            tau=tau,
            learn_tau=True,
            threshold=threshold,
            learn_threshold=learn_threshold,
            reset=reset,
            v_reset=v_reset,
            detach_reset=detach_reset,
            v_init=v_init,
            surrogate=surrogate,
            backend=backend,
        )
