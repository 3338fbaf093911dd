"""The module every neuron kind is: options checked once, then a thin call into the kernel.

State (the membrane potential) is a value made inside `forward`: nothing to reset between batches,
nothing of it in `state_dict`.
"""

import math
from functools import partial

import torch
from torch import nn

from cfsnn_cli.constants import constant_like
from cfsnn_cli.errors import require
from cfsnn_cli.neurons.backends import BACKENDS, Backend, sequence_kernel
from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.fixed_point import (
    FixedPointMembrane,
    fixed_point_initial_state,
    fixed_point_sequence,
    fixed_point_step,
)
from cfsnn_cli.neurons.observe import LayerObservation, current_observations
from cfsnn_cli.neurons.stepwise import Feedback, stepwise_sequence
from cfsnn_cli.positive import inverse_softplus
from cfsnn_cli.surrogates import SigmoidSurrogate, Surrogate


class SpikingNeuron(nn.Module):
    """H_t = β·V_{t−1} + X_t, N_t = fire(H_t), V_t = reset(H_t, N_t); input and output [T, B, ...].

    The base of every neuron kind; the kinds (`CFNeuron`, `LIFNeuron`, …) fix some of these
    arguments and give the rest defaults. Potentials (H, V, θ, v_reset, v_init) are in the units of
    the input X_t; time is counted in steps.

    Args:
        tau: membrane time constant τ in time steps, τ ≥ 1; the decay is β = 1 − 1/τ (τ = 1: no
            memory; τ = inf: β = 1, no leak).
        learn_tau: learn β per layer, stored raw as w with β = sigmoid(w) and started at 1 − 1/τ;
            needs 1 < τ < inf.
        threshold: θ > 0 and finite, the potential one spike unit costs.
        learn_threshold: learn θ per layer, stored raw and read through softplus so it stays > 0.
        levels: D ≥ 1, the most threshold crossings (spike units) fired per step.
        bipolar: also fire −1, −2, … when H falls to −θ, −2θ, …
        hard_reset: V = H·(1 − S) + v_reset·S after a spike instead of V = H − θ·N; needs
            levels = 1 and bipolar = False.
        v_reset: the potential a hard reset sets; unused by a soft reset.
        detach_reset: let no gradient flow through the reset term.
        v_init: V_0, the potential before the first step.
        surrogate: the smooth stand-in for the spike count in backward, owned by this layer;
            None makes a fresh `SigmoidSurrogate()` (α = 4, not learned).
        backend: the kernel: "auto" (the fused kernel of the device where it runs, else
            "torch"), "numba", "triton" or "torch" (see `cfsnn_cli.neurons.backends`); the
            results are the same.

    Attributes:
        channel_dim: the dimension of x_seq whose entries are the channels that the membrane
            statistics (the PN term at channel granularity) are kept per: 2 (the default) for
            [T, B, C, ...] maps and [T, B, C] features; a model sets −1 on the layers it feeds
            tokens [T, B, N, D], so that each feature D is balanced on its own. Not a recipe
            option: where the channels lie is the model's business, not the neuron's.
    """

    channel_dim: int = 2
    # set by quantization (`quant/prepare.py`) with a `unit` buffer: the potential is then kept in
    # integers of that unit (`neurons/fixed_point.py`)
    fixed_point: FixedPointMembrane | None = None
    # what a model may set on a layer it built, which a layer rebuilt from `[layers]` keeps
    MODEL_SET_ATTRIBUTES = ("channel_dim",)

    def __init__(
        self,
        *,
        tau: float,
        learn_tau: bool,
        threshold: float,
        learn_threshold: bool,
        levels: int,
        bipolar: bool,
        hard_reset: bool,
        v_reset: float,
        detach_reset: bool,
        v_init: float,
        surrogate: Surrogate | None,
        backend: Backend = "auto",
    ):
        super().__init__()
        require(tau >= 1, "tau", f"must be >= 1 (got {tau}); tau = inf gives an integrate-and-fire neuron")
        require(not (learn_tau and (tau == 1 or math.isinf(tau))), "tau", f"learn_tau needs 1 < tau < inf (got {tau})")
        require(0 < threshold < math.inf, "threshold", f"must be > 0 and finite (got {threshold})")
        require(isinstance(levels, int) and levels >= 1, "levels", f"must be an integer >= 1 (got {levels})")
        require(
            not (hard_reset and (levels > 1 or bipolar)), "reset", "a hard reset needs levels = 1 and bipolar = false"
        )
        require(backend in BACKENDS, "backend", f"must be one of {', '.join(BACKENDS)} (got {backend!r})")
        self.backend = backend
        beta = 1.0 - 1.0 / tau
        if learn_tau:
            # Stored raw as PLIF does: β = sigmoid(w) stays in (0, 1) whatever the optimiser does.
            self.raw_decay = nn.Parameter(torch.tensor(math.log(beta / (1 - beta))))
        else:
            self.decay = beta
        if learn_threshold:
            # Stored raw, read through softplus: θ stays positive whatever the optimiser does.
            self.raw_threshold = nn.Parameter(torch.tensor(inverse_softplus(float(threshold))))
        else:
            self.threshold = float(threshold)
        self.surrogate = surrogate if surrogate is not None else SigmoidSurrogate()
        self.rule = FiringRule(
            levels=levels,
            bipolar=bipolar,
            hard_reset=hard_reset,
            v_reset=float(v_reset),
            detach_reset=detach_reset,
            v_init=float(v_init),
            surrogate=self.surrogate,
        )

    def decay_value(self) -> torch.Tensor:
        """β as a 0-d tensor (learnable or not)."""
        if hasattr(self, "raw_decay"):
            return torch.sigmoid(self.raw_decay)
        return torch.tensor(self.decay)

    def threshold_value(self) -> torch.Tensor:
        """θ as a 0-d tensor (learnable or not)."""
        if hasattr(self, "raw_threshold"):
            return nn.functional.softplus(self.raw_threshold)
        return torch.tensor(self.threshold)

    def _ready(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """β (`name` "decay") or θ ("threshold") as a 0-d tensor in `like`'s device and dtype."""
        if hasattr(self, f"raw_{name}"):
            return getattr(self, f"{name}_value")().to(dtype=like.dtype)
        return constant_like(self, name, getattr(self, name), like)

    # -- one step at a time, the state explicit (streaming inference, export, the profiler) ---------
    def initial_state(self, x_t: torch.Tensor) -> torch.Tensor:
        """V_0 = v_init, shaped like one step's input [B, ...] (in integers of the unit, quantised)."""
        if self.fixed_point is not None:
            return fixed_point_initial_state(self, x_t)
        return torch.full_like(x_t, self.rule.v_init)

    def charge(self, x_t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H_t = β·V_{t−1} + X_t."""
        return self.decay_value().to(x_t) * v + x_t

    def fire_and_reset(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N_t, V_t) from H_t: the spikes and the potential after the reset."""
        threshold = self.threshold_value().to(h)
        n = self.rule.count(h, threshold)
        return n, self.rule.reset(h, n, threshold)

    def step(self, x_t: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step with the state passed in and out: (N_t, V_t) from X_t [B, ...] and V_{t−1}.

        The same equations as `forward`, without the autograd Function and without module state:
        running `step` over t = 1..T from `initial_state` gives `forward`'s spikes.
        """
        if self.fixed_point is not None:
            return fixed_point_step(self, x_t, v)
        return self.fire_and_reset(self.charge(x_t, v))

    def forward(self, x_seq: torch.Tensor, feedback: Feedback | None = None) -> torch.Tensor:
        """Run the whole sequence from V_0 = v_init.

        Args:
            x_seq: input currents X_1..X_T, shape [T, B, ...] (channels, if any, on `channel_dim`).
            feedback: for a recurrent layer, the map from the spikes N_{t−1} [B, ...] to one more
                input current at step t (N_0 = 0); the layer then runs step by step under autograd
                (`neurons/stepwise.py`) instead of through its backend's whole-sequence kernel.
                Only for channels on dim 2 (the default).

        Returns:
            The spikes N_1..N_T, same shape: integers in [−D, D] (bipolar) or [0, D], in the
            input's dtype (the autocast dtype under autocast; the membrane itself is float32 or
            float64 either way).
            Inside `observe()` the layer also records its Σrelu(±H) per channel and Σ|N|.
        """
        require(
            x_seq.dim() >= 2,
            "x_seq",
            f"must be a sequence [T, B, ...] (got shape {list(x_seq.shape)}); one step of a batch is x.unsqueeze(0)",
        )
        require(x_seq.shape[0] >= 1, "x_seq", "has T = 0 time steps")
        spikes_dtype = x_seq.dtype
        if torch.is_autocast_enabled(x_seq.device.type):
            spikes_dtype = torch.get_autocast_dtype(x_seq.device.type)
        # The membrane is at least float32: in bfloat16 a potential near 1 moves in steps of 1/128,
        # so small inputs would vanish. Spikes are whole numbers, exact in bfloat16 up to 256.
        if x_seq.dtype in (torch.float16, torch.bfloat16):
            x_seq = x_seq.float()
        needs_grad = self.training and torch.is_grad_enabled()
        alpha = self.surrogate.alpha_for(x_seq.shape[0], x_seq, needs_grad)
        seen = current_observations()
        # The kernels keep their statistics per dim 2; channels elsewhere are moved there as a view,
        # which the fused kernel reads in place (channels last) and the torch kernel by strides.
        channels_at = self.channel_dim % x_seq.dim() if x_seq.dim() > 2 else 2
        x_seq = x_seq.movedim(channels_at, 2) if channels_at != 2 else x_seq
        if self.fixed_point is not None:
            require(feedback is None, "feedback", "a quantised layer has no recurrent input")
            kernel = partial(fixed_point_sequence, neuron=self)
        elif feedback is None:
            kernel = sequence_kernel(self.backend, x_seq, self.rule)
        else:
            require(channels_at == 2, "feedback", "a recurrent layer needs its channels on dim 2")
            kernel = partial(stepwise_sequence, feedback=feedback)
        spikes, positive, negative = kernel(
            x_seq,
            self._ready("decay", x_seq),
            self._ready("threshold", x_seq),
            alpha,
            self.rule,
            seen is not None and seen.membrane,
        )
        spikes = spikes.to(spikes_dtype)
        if channels_at != 2:
            spikes = spikes.movedim(2, channels_at)
        if seen is not None:
            channels = positive.numel()  # 0 when the membrane sums were not asked for
            seen.layers.append(
                LayerObservation(
                    layer=self,
                    positive=positive,
                    negative=negative,
                    elements_per_channel=x_seq.numel() // channels if channels else 0,
                    # float64: a bfloat16 sum of spikes rounds counts above 256
                    spike_events=spikes.detach().abs().sum(dtype=torch.float64),
                    neurons=x_seq[0].numel(),
                )
            )
        return spikes

    def extra_repr(self) -> str:
        beta = "learnable" if hasattr(self, "raw_decay") else f"{self.decay:g}"
        theta = "learnable" if hasattr(self, "raw_threshold") else f"{self.threshold:g}"
        r = self.rule
        reset = f"hard to {r.v_reset:g}" if r.hard_reset else "soft"
        return (
            f"beta={beta}, threshold={theta}, levels={r.levels}, bipolar={r.bipolar}, reset={reset}, "
            f"detach_reset={r.detach_reset}"
        )
