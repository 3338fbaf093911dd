"""The fused CPU kernel as an autograd Function: the same inputs and outputs as
`kernel.NeuronSequence`, computed by `numba_kernel` in one pass each way."""

import contextlib

import numba
import numpy as np
import torch

from cfsnn_cli.neurons import numba_kernel
from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.layout import TimeMajorLayout
from cfsnn_cli.neurons.numba_slopes import backward_for, slope_compiles

FUSED_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


def fused_kernel_runs(x_seq: torch.Tensor, rule: FiringRule) -> bool:
    """Whether the fused kernel takes this input: a float32/float64 CPU tensor, and a surrogate
    whose F′ compiles (`numba_slopes.slope_compiles`)."""
    return (
        x_seq.device.type == "cpu"
        and x_seq.dtype in FUSED_DTYPES
        and slope_compiles(type(rule.surrogate).derivative, FUSED_DTYPES[x_seq.dtype])
    )


# Below this many neuron-steps a layer runs on one thread: waking a second one costs more than it
# saves, and far more when the cores are busy (a parallel region then waits for a time slice).
PARALLEL_WORK = 1 << 18


@contextlib.contextmanager
def _threads_like_torch(rows: np.ndarray):
    """Run numba's parallel loops on as many threads as torch uses (`torch.set_num_threads`), or
    on one for small layers, and leave torch's own count as it was: numba's OpenMP pool shares
    the OpenMP runtime with torch, and starting it resets the count torch runs on (which would
    change torch's sums, and break an exact resume)."""
    torch_threads = torch.get_num_threads()
    threads = min(torch_threads, numba.config.NUMBA_NUM_THREADS, numba_kernel.block_count(rows.shape[1]))
    numba.set_num_threads(max(1, threads) if rows.size >= PARALLEL_WORK else 1)
    try:
        yield
    finally:
        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)


class FusedNeuronSequence(torch.autograd.Function):
    """(x_seq, β, θ, α, rule, record) → (spikes, Σrelu(H) per channel, Σrelu(−H) per channel), on
    the CPU in float32 or float64; see `kernel.NeuronSequence` for the meaning of each."""

    @staticmethod
    def forward(ctx, x_seq, beta, threshold, alpha, rule: FiringRule, record: bool):
        layout = TimeMajorLayout(x_seq)
        potentials, spikes = layout.empty_like(x_seq), layout.empty_like(x_seq)
        rows = layout.rows(x_seq).numpy()
        scalars = np.array([float(beta), float(threshold), rule.v_init, rule.v_reset], dtype=rows.dtype)
        statistics_shape = (numba_kernel.block_count(rows.shape[1]), layout.channels) if record else (0, 0)
        positive, negative = np.zeros(statistics_shape), np.zeros(statistics_shape)
        with _threads_like_torch(rows):
            numba_kernel.forward(
                rows,
                layout.rows(potentials).numpy(),
                layout.rows(spikes).numpy(),
                scalars,
                rule.levels,
                rule.bipolar,
                rule.hard_reset,
                record,
                layout.inner,
                layout.channels,
                positive,
                negative,
            )
        # N is read back in backward only for a hard reset or a learned θ or β (cheaper than recomputing
        # it, a division per neuron); otherwise it is not saved, so the caller may modify it in place
        _, need_beta, need_threshold = ctx.needs_input_grad[:3]
        reads_spikes = rule.hard_reset or need_beta or need_threshold
        ctx.save_for_backward(potentials, spikes if reads_spikes else None, beta, threshold, alpha)
        ctx.rule, ctx.layout, ctx.scalars = rule, layout, scalars
        positive_sum = torch.from_numpy(positive.sum(0)).to(x_seq.dtype)
        negative_sum = torch.from_numpy(negative.sum(0)).to(x_seq.dtype)
        if not record:
            ctx.mark_non_differentiable(positive_sum, negative_sum)
        return spikes, positive_sum, negative_sum

    @staticmethod
    @torch.autograd.function.once_differentiable  # computed on arrays: no graph of the gradient
    def backward(ctx, grad_spikes, grad_positive, grad_negative):
        potentials, spikes, beta, threshold, alpha = ctx.saved_tensors
        spikes = potentials if spikes is None else spikes  # unread by the kernel then
        rule: FiringRule = ctx.rule
        layout: TimeMajorLayout = ctx.layout
        _, need_beta, need_threshold, need_alpha = ctx.needs_input_grad[:4]
        rows = layout.rows(potentials).numpy()
        steps = rows.shape[0]
        no_balance = np.zeros(0, dtype=rows.dtype)
        balance = grad_positive is not None and grad_positive.numel() > 0
        grad_x = layout.empty_like(potentials)
        sums = np.zeros((numba_kernel.block_count(rows.shape[1]), steps + 2))
        with _threads_like_torch(rows):
            backward_for(type(rule.surrogate).derivative)(
                rows,
                layout.rows(spikes).numpy(),
                layout.rows(grad_spikes).numpy(),
                layout.rows(grad_x).numpy(),
                ctx.scalars,
                alpha.detach().numpy(),
                rule.levels,
                rule.bipolar,
                rule.hard_reset,
                rule.detach_reset,
                need_beta,
                need_threshold,
                need_alpha,
                grad_positive.detach().numpy() if balance else no_balance,
                grad_negative.detach().numpy() if balance else no_balance,
                layout.inner,
                layout.channels,
                sums,
            )
        totals = sums.sum(0)

        def as_grad(value, like):
            return torch.as_tensor(value, dtype=like.dtype).reshape(like.shape)

        grad_alpha = as_grad(totals[: alpha.numel()], alpha) if need_alpha else None
        grad_threshold = as_grad(totals[steps + numba_kernel.THETA_SUM], threshold) if need_threshold else None
        grad_beta = as_grad(totals[steps + numba_kernel.BETA_SUM], beta) if need_beta else None
        return grad_x, grad_beta, grad_threshold, grad_alpha, None, None


@torch.compiler.disable  # torch.compile would trace into numba's own compiler: the kernel is opaque to it
def run_fused(x_seq, beta, threshold, alpha, rule: FiringRule, record: bool):
    """`FusedNeuronSequence.apply`, left out of torch.compile's graphs (the layers around it are compiled)."""
    return FusedNeuronSequence.apply(x_seq, beta, threshold, alpha, rule, record)
