"""Running a neuron's kernel and the plain autograd reference on the same input, and comparing them.

Every kernel that computes a neuron sequence is listed in KERNELS, so each one runs under the same
example-based and property-based tests: a fused kernel that lands later is one more entry here.
"""

import torch

from cfsnn_cli.neurons import CFNeuron, SpikingNeuron
from cfsnn_cli.neurons.backends import BACKENDS
from cfsnn_cli.neurons.fused import FusedNeuronSequence
from cfsnn_cli.neurons.kernel import NeuronSequence
from cfsnn_cli.neurons.reference import reference_sequence
from cfsnn_cli.neurons.stepwise import stepwise_sequence
from cfsnn_cli.surrogates import build_surrogate

# name → callable(x_seq, β, θ, α, rule) returning (spikes, Σrelu(H), Σrelu(−H)) with recording on
KERNELS = {
    "autograd-function": lambda x, beta, threshold, alpha, rule: NeuronSequence.apply(
        x, beta, threshold, alpha, rule, True
    ),
    "numba-fused": lambda x, beta, threshold, alpha, rule: FusedNeuronSequence.apply(
        x, beta, threshold, alpha, rule, True
    ),
    "triton": lambda x, beta, threshold, alpha, rule: _on_triton_device(x, beta, threshold, alpha, rule),
    # the recurrent layers' step-by-step path with a feedback of zeros: the same neuron as the others
    "stepwise": lambda x, beta, threshold, alpha, rule: stepwise_sequence(
        x, beta, threshold, alpha, rule, True, feedback=torch.zeros_like
    ),
}


def _triton_runs_on_the_cpu() -> bool:
    from cfsnn_cli.neurons.triton_sequence import interpreted

    return interpreted()


# the backends a test may run on CPU tensors: Triton only under its interpreter (no GPU here); on a
# GPU machine it is compiled, and the `gpu` tests run it on CUDA instead
CPU_BACKENDS = [backend for backend in BACKENDS if backend != "triton" or _triton_runs_on_the_cpu()]


def _on_triton_device(*tensors_and_rule):
    """The Triton kernel on its device (CUDA, or the CPU under the interpreter that tests/conftest.py
    turns on without a GPU), its outputs brought back to the CPU."""
    from cfsnn_cli.neurons.triton_sequence import TritonNeuronSequence, interpreted

    device = "cpu" if interpreted() else "cuda"
    *tensors, rule = tensors_and_rule
    outputs = TritonNeuronSequence.apply(*(tensor.to(device) for tensor in tensors), rule, True)
    return tuple(output.cpu() for output in outputs)


def spikes_and_gradients(neuron: SpikingNeuron, x: torch.Tensor, run) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """`run`'s spikes and the gradients of one loss reaching every output, wrt x and each parameter."""
    x = x.detach().double().requires_grad_()
    neuron.double()
    alpha = neuron.surrogate.alpha_for(x.shape[0], x, needs_grad=True)
    spikes, positive, negative = run(x, neuron.decay_value().to(x), neuron.threshold_value().to(x), alpha, neuron.rule)
    # weights that differ per element and per statistic, so that no gradient cancels by symmetry
    weights = torch.linspace(-1, 2, spikes.numel(), dtype=torch.float64, device=spikes.device).reshape(spikes.shape)
    loss = (spikes * weights).sum() + (positive * 0.3).sum() - (negative * 0.7).sum()
    leaves = [x, *neuron.parameters()]
    return spikes.detach(), list(torch.autograd.grad(loss, leaves))


def assert_kernel_matches_reference(neuron: SpikingNeuron, x: torch.Tensor, kernel: str = "autograd-function"):
    """Identical spikes, and every float64 gradient within 1e-6 (relative to its size where above 1).

    Returns the kernel's spikes and gradients.
    """
    got_spikes, got_grads = spikes_and_gradients(neuron, x, KERNELS[kernel])
    want_spikes, want_grads = spikes_and_gradients(neuron, x, reference_sequence)
    assert torch.equal(got_spikes, want_spikes), (got_spikes - want_spikes).abs().max()
    for got, want in zip(got_grads, want_grads, strict=True):
        tolerance = 1e-6 * want.abs().clamp_min(1)
        assert torch.all((got - want).abs() <= tolerance), (got - want).abs().max()
    return got_spikes, got_grads


def learning_cf_neuron(levels: int, bipolar: bool, detach_reset: bool, learnable: str, timesteps: int) -> CFNeuron:
    """A CF layer that learns β, θ and (per `learnable`) α, started off the defaults (τ 2.5, θ 0.8,
    V_0 0.1), so that every gradient a kernel computes is exercised."""
    return CFNeuron(
        tau=2.5,
        learn_tau=True,
        threshold=0.8,
        learn_threshold=True,
        levels=levels,
        bipolar=bipolar,
        detach_reset=detach_reset,
        v_init=0.1,
        surrogate=build_surrogate("atan", learnable=learnable, timesteps=timesteps),
    )
