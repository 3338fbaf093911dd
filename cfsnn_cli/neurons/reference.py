"""A plain autograd implementation of the neuron equations, for tests and benchmarks only.

It differs from the kernel on purpose: the count is the sum of Heaviside crossings (the kernel
uses the floor formula), and gradients come
from autograd through the smooth primitive F (a straight-through estimator written as
`hard + (smooth − smooth.detach())`, exact in forward), never from the kernel's closed forms.
"""

import torch

from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.kernel import channel_sum


def reference_count(h: torch.Tensor, threshold: torch.Tensor, levels: int, bipolar: bool) -> torch.Tensor:
    """N as the sum of its Heaviside crossings, Σ_k Θ(H − kθ) − Σ_k Θ(−H − kθ)."""
    n = torch.zeros_like(h)
    for k in range(1, levels + 1):
        n = n + (h - k * threshold >= 0).to(h.dtype)
        if bipolar:
            n = n - (-h - k * threshold >= 0).to(h.dtype)
    return n


def reference_sequence(x_seq, beta, threshold, alpha, rule: FiringRule, feedback=None):
    """Same signature and outputs as NeuronSequence.apply with recording on; with `feedback`, as
    `stepwise_sequence` (feedback(N_{t−1}) added to X_t, N_0 = 0)."""
    v = torch.full_like(x_seq[0], rule.v_init)
    n = torch.zeros_like(x_seq[0])
    spikes, positive, negative = [], 0, 0
    for t in range(x_seq.shape[0]):
        h = beta * v + (x_seq[t] if feedback is None else x_seq[t] + feedback(n))
        step_alpha = alpha[t] if alpha.numel() > 1 else alpha[0]
        smooth = rule.surrogate.smooth_count(h, threshold, step_alpha, rule.levels, rule.bipolar)
        n = reference_count(h.detach(), threshold.detach(), rule.levels, rule.bipolar) + (smooth - smooth.detach())
        spikes.append(n)
        positive = positive + channel_sum(torch.relu(h))
        negative = negative + channel_sum(torch.relu(-h))
        if rule.hard_reset:
            gate = n.detach() if rule.detach_reset else n
            v = h - gate * (h - rule.v_reset)
        else:
            reset = threshold * n
            v = h - (reset.detach() if rule.detach_reset else reset)
    return torch.stack(spikes), positive, negative
