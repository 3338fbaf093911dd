"""The fixed-point membrane of a quantised neuron layer: the same neuron, its potential kept as an
integer count of the layer's unit u (per channel; u = s_w·s_a of the synapses feeding it).

With F = `leak_bits` and M = `membrane_bits`, the integers a device stores are

    θ_int = max(1, round(θ / u))      v_reset_int = round(v_reset / u)      v_init_int = round(v_init / u)
    β_int = round(β·2^F)              (β = 1 − 2^−k is exact for k ≤ F; τ = ∞ gives β_int = 2^F)

and each step is, in integers only,

    X_int = round(X / u)                                   (the accumulator the synapses computed)
    H     = clip(decay(V) + X_int, −2^(M−1), 2^(M−1) − 1)   (decay: floor(β_int·V / 2^F), or see `decay`)
    N     = the layer's count of H against θ_int           (trunc or floor of H/θ_int, clipped to ±D)
    V     = H − θ_int·N   (soft)   or   H − N·(H − v_reset_int)   (hard)

Here they are floats holding those integers (float64: exact up to 2^53), so autograd can pass
through: the roundings straight through (`straight_through.py`), and the count through the layer's surrogate
evaluated at the real potential H·u against θ_int·u, so α, θ and every surrogate mean what they
mean in the float layer.
"""

from dataclasses import dataclass

import torch

from cfsnn_cli.errors import require
from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.kernel import as_channels, channel_sum
from cfsnn_cli.straight_through import floor_ste, round_ste, trunc_ste

LEAK_ROUNDINGS = ("floor", "toward_zero", "leak_floor")


@dataclass(frozen=True)
class FixedPointMembrane:
    """How a quantised layer stores its potential: `membrane_bits` signed, β in `leak_bits`
    fractional bits, the decay rounded as `leak_rounding` says (`decay`)."""

    membrane_bits: int
    leak_bits: int
    leak_rounding: str = "floor"

    def __post_init__(self):
        require(self.leak_rounding in LEAK_ROUNDINGS, "leak_rounding", f"must be one of {', '.join(LEAK_ROUNDINGS)}")

    @property
    def limits(self) -> tuple[int, int]:
        return -(1 << (self.membrane_bits - 1)), (1 << (self.membrane_bits - 1)) - 1


@dataclass
class IntegerNeuron:
    """A layer's integer constants, as floats holding integers; θ_int, v_reset_int and v_init_int
    per channel, β_int 0-d. θ_int and β_int keep their gradient to θ and β (straight through)."""

    threshold: torch.Tensor
    beta: torch.Tensor
    v_reset: torch.Tensor
    v_init: torch.Tensor


def integer_neuron(neuron, unit: torch.Tensor, fixed_point: FixedPointMembrane) -> IntegerNeuron:
    """`neuron`'s constants in integers of `unit` (float64 [C]); the one place they are computed,
    for the fake-quantised forward, the step API and the exported program alike."""
    scale = 1 << fixed_point.leak_bits
    theta = neuron.threshold_value().to(unit)
    return IntegerNeuron(
        threshold=torch.clamp(round_ste(theta / unit), min=1),
        beta=round_ste(neuron.decay_value().to(unit) * scale),
        v_reset=torch.round(neuron.rule.v_reset / unit),
        v_init=torch.round(neuron.rule.v_init / unit),
    )


class FixedPointCount(torch.autograd.Function):
    """(H_int, θ, α, θ_int, u, rule) → N; backward through the surrogate at H·u against θ_int·u."""

    @staticmethod
    def forward(ctx, h, theta, alpha, threshold_int, unit, rule: FiringRule):
        ctx.save_for_backward(h, alpha, threshold_int, unit)
        ctx.rule = rule
        return rule.count(h, threshold_int)

    @staticmethod
    def backward(ctx, grad_n):
        h, alpha, threshold_int, unit = ctx.saved_tensors
        rule: FiringRule = ctx.rule
        _, need_threshold, need_alpha = ctx.needs_input_grad[:3]
        grad_h, grad_theta, grad_alpha = rule.surrogate.count_vjp(
            grad_n, h * unit, threshold_int * unit, alpha, rule.levels, rule.bipolar, need_threshold, need_alpha
        )
        return grad_h * unit, grad_theta, grad_alpha, None, None, None


def decay(v: torch.Tensor, beta: torch.Tensor, fixed_point: FixedPointMembrane) -> torch.Tensor:
    """The decayed potential in integers, β = β_int / 2^F, rounded as the device rounds it:

    - "floor":       floor(β_int·V / 2^F), an arithmetic shift right (to −∞);
    - "toward_zero": sign(p)·(|p| >> F) with p = β_int·V (Lava's fixed-point LIF for Loihi);
    - "leak_floor":  V − floor((2^F − β_int)·V / 2^F), the leaked part shifted (Xylo's
      V − (V >> dash) when β = 1 − 2^−dash).
    """
    scale = 1 << fixed_point.leak_bits
    if fixed_point.leak_rounding == "toward_zero":
        return trunc_ste(beta * v / scale)
    if fixed_point.leak_rounding == "leak_floor":
        return v - floor_ste((scale - beta) * v / scale)
    return floor_ste(beta * v / scale)


def charge_and_fire(
    x_int: torch.Tensor,
    v: torch.Tensor,
    constants: IntegerNeuron,
    fixed_point: FixedPointMembrane,
    unit: torch.Tensor,
    theta: torch.Tensor,
    alpha: torch.Tensor,
    rule: FiringRule,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step in integers: (H, N, V) from X_int and V_{t−1} (`unit` and the constants shaped for them)."""
    low, high = fixed_point.limits
    decayed = decay(v, constants.beta, fixed_point)
    h = torch.clamp(decayed + x_int, low, high)
    n = FixedPointCount.apply(h, theta, alpha, constants.threshold.detach(), unit, rule)
    if rule.hard_reset:
        gate = n.detach() if rule.detach_reset else n
        return h, n, h - gate * (h - constants.v_reset)
    reset = constants.threshold * n
    return h, n, h - (reset.detach() if rule.detach_reset else reset)


def _shaped(neuron, like: torch.Tensor) -> tuple[torch.Tensor, IntegerNeuron]:
    """(u, the integer constants) of a quantised layer, shaped to broadcast against one step `like`."""
    constants = integer_neuron(neuron, neuron.unit, neuron.fixed_point)
    shaped = {name: as_channels(value, like) if value.dim() else value for name, value in vars(constants).items()}
    return as_channels(neuron.unit, like), IntegerNeuron(**shaped)


def fixed_point_sequence(
    x_seq: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    alpha: torch.Tensor,
    rule: FiringRule,
    record: bool,
    *,
    neuron,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sequence kernels' (spikes, Σrelu(H), Σrelu(−H) per channel) for a quantised layer, the
    potential in integers; by autograd. It takes the kernels' arguments, but reads β and θ from
    `neuron` itself (not `beta` and `threshold`), to make their integers."""
    x_seq = x_seq.double()
    unit, constants = _shaped(neuron, x_seq[0])
    theta = neuron.threshold_value().to(x_seq)
    x_int = round_ste(x_seq / unit)
    v = constants.v_init.expand_as(x_int[0])
    channels = x_seq.shape[2] if x_seq.dim() > 2 else 1
    positive = negative = x_seq.new_zeros(channels if record else 0)
    spikes = []
    for t in range(x_seq.shape[0]):
        step_alpha = (alpha[t] if alpha.numel() > 1 else alpha[0]).to(x_seq)
        h, n, v = charge_and_fire(x_int[t], v, constants, neuron.fixed_point, unit, theta, step_alpha, rule)
        spikes.append(n)
        if record:
            positive = positive + channel_sum(torch.relu(h * unit))
            negative = negative + channel_sum(torch.relu(-h * unit))
    return torch.stack(spikes), positive, negative


def fixed_point_initial_state(neuron, x_t: torch.Tensor) -> torch.Tensor:
    """V_0 = v_init_int, shaped like one step's input (the step API's state of a quantised layer)."""
    _, constants = _shaped(neuron, x_t)
    return constants.v_init.expand(x_t.shape).to(torch.float64).clone()


def fixed_point_step(neuron, x_t: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of a quantised layer with its integer state passed in and out: (N_t, V_t)."""
    unit, constants = _shaped(neuron, x_t)
    theta = neuron.threshold_value().to(unit)
    no_alpha = torch.ones((), dtype=torch.float64)  # the surrogate is only read in backward
    x_int = torch.round(x_t.double() / unit)
    _, n, v = charge_and_fire(x_int, v, constants, neuron.fixed_point, unit, theta, no_alpha, neuron.rule)
    return n.to(x_t.dtype), v
