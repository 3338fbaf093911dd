"""The neuron run one step at a time under autograd, for layers whose input at step t depends on
their own spikes at t − 1 (recurrent layers): the whole-sequence kernels need every X_t before
they start, which a recurrence cannot give them.

Each step is H_t = β·V_{t−1} + (X_t + feedback(N_{t−1})), the count N_t = fire(H_t) as one autograd
Function whose backward is the surrogate's closed-form vector-Jacobian product (the kernels' own
`count_vjp`, so α, θ and every surrogate behave as in the fused kernels), and the reset in plain
tensor operations. With a feedback that returns zeros it is the sequence kernels' forward and
backward, step for step (tests/neurons/test_stepwise.py).
"""

from collections.abc import Callable

import torch

from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.kernel import channel_sum

Feedback = Callable[[torch.Tensor], torch.Tensor]
"""Maps one step's spikes N_{t−1} [B, ...] to an input current of the same shape."""


class SpikeCount(torch.autograd.Function):
    """(H_t, θ, α_t, rule) → N_t; backward pushes dL/dN_t through the surrogate to H_t, θ and α_t."""

    @staticmethod
    def forward(ctx, h, threshold, step_alpha, rule: FiringRule):
        ctx.save_for_backward(h, threshold, step_alpha)
        ctx.rule = rule
        return rule.count(h, threshold)

    @staticmethod
    def backward(ctx, grad_n):
        h, threshold, step_alpha = ctx.saved_tensors
        rule: FiringRule = ctx.rule
        _, need_threshold, need_alpha = ctx.needs_input_grad[:3]
        grad_h, grad_threshold, grad_alpha = rule.surrogate.count_vjp(
            grad_n, h, threshold, step_alpha, rule.levels, rule.bipolar, need_threshold, need_alpha
        )
        return grad_h, grad_threshold, grad_alpha, None


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
        h = beta * v + (x_seq[t] + feedback(n))
        n = SpikeCount.apply(h, threshold, alpha[t] if alpha.numel() > 1 else alpha[0], rule)
        spikes.append(n)
        if record:
            positive = positive + channel_sum(torch.relu(h))
            negative = negative + channel_sum(torch.relu(-h))
        if rule.detach_reset and not rule.hard_reset:
            v = h - (threshold * n).detach()  # neither N nor θ gets a gradient through the reset
        else:  # a detached hard reset still passes H's gradient where the neuron did not fire
            v = rule.reset(h, n.detach() if rule.detach_reset else n, threshold)
    return torch.stack(spikes), positive, negative
