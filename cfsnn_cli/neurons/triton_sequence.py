"""The Triton kernel as an autograd Function: the same inputs and outputs as
`kernel.NeuronSequence`, computed by `triton_kernel` in one pass each way.

It runs on CUDA tensors; with `TRITON_INTERPRET=1` set before triton is imported, Triton's
interpreter runs the same kernels on CPU tensors through numpy, which is how CI verifies them on a
machine without a GPU (slowly: one program at a time).
"""

import functools
import types

import torch
import triton

from cfsnn_cli.neurons import triton_kernel
from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.kernel import as_channels, channel_sum
from cfsnn_cli.neurons.layout import TimeMajorLayout
from cfsnn_cli.neurons.triton_elementwise import slope_fits_triton, triton_slope

TRITON_DTYPES = (torch.float32, torch.float64)
# neurons per program: enough to keep a GPU's lanes busy with few programs; smaller layers take
# the next power of two up
BLOCK = 1024


def interpreted() -> bool:
    """Whether Triton runs these kernels through its interpreter (on CPU tensors) rather than
    compiling them for a GPU: decided when they were defined, by TRITON_INTERPRET then."""
    return not isinstance(triton_kernel.forward, triton.runtime.JITFunction)


def triton_kernel_runs(x_seq: torch.Tensor, rule: FiringRule) -> bool:
    """Whether the Triton kernel takes this input: a float32/float64 tensor on CUDA (or on the CPU
    under Triton's interpreter), and a surrogate whose F′ it can compile (`slope_fits_triton`)."""
    device = "cpu" if interpreted() else "cuda"
    return (
        x_seq.device.type == device
        and x_seq.dtype in TRITON_DTYPES
        and slope_fits_triton(type(rule.surrogate).derivative)
    )


@functools.cache
def backward_kernel(derivative):
    """`triton_kernel.backward` with `derivative` (a surrogate's F′) as its slope."""
    function = triton_kernel.backward.fn
    namespace = dict(function.__globals__, slope=triton_slope(derivative))
    rebound = types.FunctionType(function.__code__, namespace, function.__name__)
    rebound.__qualname__, rebound.__doc__ = function.__qualname__, function.__doc__
    return triton.jit(rebound)


def _block(size: int) -> int:
    return min(BLOCK, triton.next_power_of_2(size))


def _scalars(beta, threshold, rule: FiringRule, like: torch.Tensor) -> torch.Tensor:
    values = [beta.detach().to(like), threshold.detach().to(like)]
    values += [torch.tensor(rule.v_init, dtype=like.dtype), torch.tensor(rule.v_reset, dtype=like.dtype)]
    return torch.stack([value.reshape(()).to(like.device) for value in values])


def _per_neuron(per_channel: torch.Tensor, x_seq: torch.Tensor, layout: TimeMajorLayout) -> torch.Tensor:
    """A per-channel vector spread over one step's M neurons, in the rows' order."""
    one_step = x_seq[:1]
    spread = as_channels(per_channel.to(x_seq.dtype), one_step[0]).expand(one_step.shape[1:]).unsqueeze(0)
    return layout.rows(spread.expand_as(one_step)).reshape(-1)


class TritonNeuronSequence(torch.autograd.Function):
    """(x_seq, β, θ, α, rule, record) → (spikes, Σrelu(H) per channel, Σrelu(−H) per channel); see
    `kernel.NeuronSequence` for the meaning of each."""

    @staticmethod
    def forward(ctx, x_seq, beta, threshold, alpha, rule: FiringRule, record: bool):
        layout = TimeMajorLayout(x_seq)
        potentials, spikes = layout.empty_like(x_seq), layout.empty_like(x_seq)
        rows = layout.rows(x_seq)
        steps, size = rows.shape
        scalars = _scalars(beta, threshold, rule, x_seq)
        block = _block(size)
        triton_kernel.forward[(triton.cdiv(size, block),)](
            rows, layout.rows(potentials), layout.rows(spikes), scalars, steps, size,
            LEVELS=rule.levels, BIPOLAR=rule.bipolar, HARD_RESET=rule.hard_reset, BLOCK=block,
            enable_fp_fusion=False,
        )  # fmt: skip
        if record:
            # from the saved H in one reduction per statistic: torch's sums are deterministic
            positive = _channel_totals(potentials.clamp_min(0))
            negative = _channel_totals(potentials.neg().clamp_min(0))
        else:
            positive = negative = x_seq.new_zeros(0)
            ctx.mark_non_differentiable(positive, negative)
        ctx.save_for_backward(potentials, scalars, alpha)
        ctx.rule, ctx.layout = rule, layout
        return spikes, positive, negative

    @staticmethod
    @torch.autograd.function.once_differentiable  # computed by a kernel: no graph of the gradient
    def backward(ctx, grad_spikes, grad_positive, grad_negative):
        potentials, scalars, alpha = ctx.saved_tensors
        rule: FiringRule = ctx.rule
        layout: TimeMajorLayout = ctx.layout
        _, need_beta, need_threshold, need_alpha = ctx.needs_input_grad[:4]
        rows = layout.rows(potentials)
        steps, size = rows.shape
        balance = grad_positive is not None and grad_positive.numel() > 0
        if balance:
            spread_positive = _per_neuron(grad_positive, potentials, layout)
            spread_negative = _per_neuron(grad_negative, potentials, layout)
        else:
            spread_positive = spread_negative = rows.new_zeros(1)
        grad_x = layout.empty_like(potentials)
        block = _block(size)
        programs = triton.cdiv(size, block)
        sums = torch.zeros(programs, steps + 2, dtype=torch.float64, device=rows.device)
        backward_kernel(type(rule.surrogate).derivative)[(programs,)](
            rows, layout.rows(grad_spikes).to(rows.dtype), layout.rows(grad_x), scalars,
            alpha.detach().to(rows), spread_positive, spread_negative, sums, steps, size, (steps - 1) * size,
            LEVELS=rule.levels, BIPOLAR=rule.bipolar, HARD_RESET=rule.hard_reset,
            DETACH_RESET=rule.detach_reset, NEED_BETA=need_beta, NEED_THRESHOLD=need_threshold,
            NEED_ALPHA=need_alpha, ALPHA_PER_STEP=alpha.numel() > 1, BALANCE=balance, BLOCK=block,
        )  # fmt: skip
        totals = sums.sum(0)

        def as_grad(value, like):
            return value.to(like.dtype).reshape(like.shape)

        grad_alpha = as_grad(totals[: alpha.numel()], alpha) if need_alpha else None
        theta_sum = totals[steps + triton_kernel.THETA_SUM.value]
        beta_sum = totals[steps + triton_kernel.BETA_SUM.value]
        grad_threshold = as_grad(theta_sum, scalars[triton_kernel.THRESHOLD.value]) if need_threshold else None
        grad_beta = as_grad(beta_sum, scalars[triton_kernel.BETA.value]) if need_beta else None
        return grad_x, grad_beta, grad_threshold, grad_alpha, None, None


def _channel_totals(values: torch.Tensor) -> torch.Tensor:
    """Σ over time, batch and positions of [T, B, C, ...] values, per channel C."""
    return channel_sum(values.flatten(0, 1))  # [T·B, C, ...], or [T·B] for one channel


# Left out of torch.compile's graphs, as the numba kernel is: Dynamo would have to trace a kernel
# rebound per surrogate at run time, which no GPU has yet confirmed it does (the layers around are compiled)
@torch.compiler.disable
def run_triton(x_seq, beta, threshold, alpha, rule: FiringRule, record: bool):
    """`TritonNeuronSequence.apply`, left out of torch.compile's graphs."""
    return TritonNeuronSequence.apply(x_seq, beta, threshold, alpha, rule, record)
