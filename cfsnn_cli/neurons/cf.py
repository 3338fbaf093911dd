"""The circulate-firing neuron, `kind = "cf"`."""

from cfsnn_cli.neurons.backends import Backend
from cfsnn_cli.neurons.base import SpikingNeuron
from cfsnn_cli.neurons.registry import NEURONS
from cfsnn_cli.options import InfiniteAllowed
from cfsnn_cli.surrogates import Surrogate


@NEURONS.register("cf")
class CFNeuron(SpikingNeuron):
    """Circulate-firing neuron.

        H_t = β·V_{t−1} + X_t
        N_t = sign(H_t)·min(floor(|H_t|/θ), D)        (bipolar; else min(floor(max(H_t, 0)/θ), D))
        V_t = H_t − θ·N_t                              (the rest above the crossings is kept)

    The potential circulates through fire-and-subtract up to D = `levels` times per step; with
    D = 1 and bipolar spikes are ternary {−1, 0, +1}. β = 1 − 1/τ. Potentials are in the units of
    the input X_t; the equations are derived in docs/method.md.

    Args: as in `SpikingNeuron`, but for hard_reset and v_reset: the reset is always V_t = H_t − θ·N_t.
    """

    def __init__(
        self,
        tau: InfiniteAllowed = 2.0,
        learn_tau: bool = False,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        levels: int = 1,
        bipolar: bool = True,
        detach_reset: bool = False,
        v_init: float = 0.0,
        surrogate: Surrogate | None = None,
        backend: Backend = "auto",
    ):
        super().__init__(
            tau=tau,
            learn_tau=learn_tau,
            threshold=threshold,
            learn_threshold=learn_threshold,
            levels=levels,
            bipolar=bipolar,
            hard_reset=False,
            v_reset=0.0,
            detach_reset=detach_reset,
            v_init=v_init,
            surrogate=surrogate,
            backend=backend,
        )
