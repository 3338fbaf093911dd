"""The memory-lean neuron kernel: one autograd Function per neuron layer over the whole sequence.

Forward keeps one tensor of the input's size for backward, the pre-fire potentials H_1..H_T.
Backward walks time in reverse and recomputes the spikes and resets from H, so a layer holds
T×(input) instead of the dozen intermediates per step that autograd through a Python loop keeps.
The gradient equations are derived in docs/method.md ("Backward through time").
"""

import torch

from cfsnn_cli.neurons.firing import FiringRule


def channel_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum of one step's [B, C, ...] values per channel C ([B] inputs are one channel)."""
    if values.dim() < 2:
        return values.sum().reshape(1)
    return values.sum(dim=[d for d in range(values.dim()) if d != 1])


def as_channels(per_channel: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a [C] vector against one step's [B, C, ...] tensor."""
    if like.dim() < 2:
        return per_channel
    return per_channel.reshape(1, -1, *([1] * (like.dim() - 2)))


class NeuronSequence(torch.autograd.Function):
    """(x_seq, β, θ, α, rule, record) → (spikes, Σrelu(H) per channel, Σrelu(−H) per channel).

    β and θ are 0-d tensors, α has shape [T] (one per step) or [1]. When `record` is false the two
    statistics are empty and cost nothing.
    """

    @staticmethod
    def forward(ctx, x_seq, beta, threshold, alpha, rule: FiringRule, record: bool):
        potentials = torch.empty_like(x_seq)
        spikes = torch.empty_like(x_seq)
        channels = x_seq.shape[2] if x_seq.dim() > 2 else 1
        positive = x_seq.new_zeros(channels if record else 0)
        negative = x_seq.new_zeros(channels if record else 0)
        v = torch.full_like(x_seq[0], rule.v_init)
        for t in range(x_seq.shape[0]):
            h = v.mul_(beta).add_(x_seq[t])
            potentials[t] = h
            n = rule.count(h, threshold)
            spikes[t] = n
            if record:
                positive += channel_sum(h.clamp_min(0))
                negative += channel_sum(h.neg().clamp_min_(0))
            v = rule.reset(h, n, threshold)
        ctx.save_for_backward(potentials, beta, threshold, alpha)
        ctx.rule = rule
        if not record:
            ctx.mark_non_differentiable(positive, negative)
        return spikes, positive, negative

    @staticmethod
    def backward(ctx, grad_spikes, grad_positive, grad_negative):
        potentials, beta, threshold, alpha = ctx.saved_tensors
        rule: FiringRule = ctx.rule
        _, need_beta, need_threshold, need_alpha = ctx.needs_input_grad[:4]
        balance_grads = grad_positive is not None and grad_positive.numel() > 0

        grad_x = torch.empty_like(potentials)
        grad_beta = torch.zeros_like(beta) if need_beta else None
        grad_threshold = torch.zeros_like(threshold) if need_threshold else None
        grad_alpha = torch.zeros_like(alpha) if need_alpha else None
        # the spikes themselves enter backward only through a hard reset's gate or θ's reset term
        needs_count = rule.hard_reset or (need_threshold and not rule.detach_reset)
        grad_v = None  # dL/dV_t; V_T feeds nothing
        count_at_previous_step = None  # N_{t-1}, already computed for β's gradient
        for t in reversed(range(potentials.shape[0])):
            h = potentials[t]
            n = None
            if needs_count:
                n = count_at_previous_step if count_at_previous_step is not None else rule.count(h, threshold)
            step_alpha = alpha[t] if alpha.numel() > 1 else alpha[0]
            # dL/dN_t: through the output spike, and through the reset V_t = H_t − N_t·R_t unless detached
            grad_n = grad_spikes[t]
            if grad_v is not None and not rule.detach_reset:
                reset_amount = h - rule.v_reset if rule.hard_reset else threshold
                grad_n = grad_n - grad_v * reset_amount
            grad_h, step_grad_threshold, step_grad_alpha = rule.surrogate.count_vjp(
                grad_n, h, threshold, step_alpha, rule.levels, rule.bipolar, need_threshold, need_alpha
            )
            if grad_v is not None:
                # the direct path H_t → V_t; a hard reset closes it where the neuron fired
                grad_h += grad_v * (1 - n) if rule.hard_reset else grad_v
            if balance_grads:
                grad_h += as_channels(grad_positive, h) * (h > 0)
                grad_h -= as_channels(grad_negative, h) * (h < 0)

            if need_threshold:
                grad_threshold += step_grad_threshold
                if grad_v is not None and not rule.detach_reset and not rule.hard_reset:
                    grad_threshold -= torch.dot(grad_v.reshape(-1), n.reshape(-1))
            if need_alpha:
                grad_alpha[t if alpha.numel() > 1 else 0] += step_grad_alpha
            count_at_previous_step = None
            if need_beta:
                if t > 0:
                    count_at_previous_step = rule.count(potentials[t - 1], threshold)
                    v_before = rule.reset(potentials[t - 1], count_at_previous_step, threshold)
                    grad_beta += torch.dot(grad_h.reshape(-1), v_before.reshape(-1))
                else:
                    grad_beta += grad_h.sum() * rule.v_init
            grad_x[t] = grad_h
            grad_v = grad_h * beta
        return grad_x, grad_beta, grad_threshold, grad_alpha, None, None
