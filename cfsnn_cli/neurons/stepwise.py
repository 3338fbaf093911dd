"""The neuron run one step at a time under autograd, for layers whose input at step t depends on
their own spikes at t − 1 (recurrent layers): the whole-sequence kernels need every X_t before
they start, which a recurrence cannot give them.

Each step, H_t = β·V_{t−1} + (X_t + feedback(N_{t−1})), the count N_t = fire(H_t) and the reset,
is one autograd node whose backward is the whole-sequence kernel's own per-step backward
(`kernel.potential_vjp`: the surrogate's closed form, so α, θ, the resets and every surrogate
behave as in the fused kernels); only the feedback and the PN sums go through plain autograd. With
a feedback of zeros it is the sequence kernels' forward and backward, step for step (it is an
entry of the kernel tests' table), and with a real one it matches the plain autograd reference
(tests/models/test_recurrent.py).
"""

from collections.abc import Callable

import torch

from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.kernel import channel_sum, potential_vjp

Feedback = Callable[[torch.Tensor], torch.Tensor]
"""Maps one step's spikes N_{t−1} [B, ...] to an input current of the same shape."""


class NeuronStep(torch.autograd.Function):
    """(I_t, V_{t−1}, β, θ, α_t, rule) → (N_t, V_t, H_t) with H_t = β·V_{t−1} + I_t: one step of the
    neuron as one autograd node, its backward the kernels' own `potential_vjp` (H_t is an output
    so that the PN sums, taken outside, send their gradient in through it)."""

    @staticmethod
    def forward(ctx, current, v_before, beta, threshold, step_alpha, rule: FiringRule):
        h = v_before * beta + current  # the kernels' order of operations, so H is the same bits
        n = rule.count(h, threshold)
        v = rule.reset(h, n, threshold)
        ctx.save_for_backward(h, n, v_before, beta, threshold, step_alpha)
        ctx.rule = rule
        return n, v, h

    @staticmethod
    def backward(ctx, grad_n, grad_v, grad_h_direct):
        h, n, v_before, beta, threshold, step_alpha = ctx.saved_tensors
        _, _, need_beta, need_threshold, need_alpha = ctx.needs_input_grad[:5]
        grad_h, grad_threshold, grad_alpha = potential_vjp(
            ctx.rule, h, n, threshold, step_alpha, grad_n, grad_v, need_threshold, need_alpha
        )
        grad_h += grad_h_direct
        grad_beta = torch.dot(grad_h.reshape(-1), v_before.reshape(-1)) if need_beta else None
        return grad_h, grad_h * beta, grad_beta, grad_threshold, grad_alpha, None


def stepwise_sequence(
    x_seq: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    alpha: torch.Tensor,
    rule: FiringRule,
    record: bool,
    feedback: Feedback,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sequence kernels' (spikes, Σrelu(H), Σrelu(−H) per channel), with `feedback(N_{t−1})`
    added to X_t at every step (N_0 = 0); differentiable by autograd."""
    v = torch.full_like(x_seq[0], rule.v_init)
    n = torch.zeros_like(x_seq[0])
    spikes = []
    channels = x_seq.shape[2] if x_seq.dim() > 2 else 1
    positive = negative = x_seq.new_zeros(channels if record else 0)
    for t in range(x_seq.shape[0]):
        step_alpha = alpha[t] if alpha.numel() > 1 else alpha[0]
        n, v, h = NeuronStep.apply(x_seq[t] + feedback(n), v, beta, threshold, step_alpha, rule)
        spikes.append(n)
        if record:
            positive = positive + channel_sum(torch.relu(h))
            negative = negative + channel_sum(torch.relu(-h))
    return torch.stack(spikes), positive, negative
