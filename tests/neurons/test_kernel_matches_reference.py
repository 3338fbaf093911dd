"""Every kernel (kernel_check.KERNELS) and the plain autograd reference compute the same thing, for every option."""

import itertools

import pytest
import torch

from cfsnn_cli.neurons import CFNeuron, LIFNeuron
from cfsnn_cli.surrogates import SURROGATES, build_surrogate
from tests.neurons.kernel_check import (
    KERNELS,
    assert_kernel_matches_reference,
    learning_cf_neuron,
    spikes_and_gradients,
)

T = 5


def random_input(seed: int, shape=(T, 3, 4, 2, 2)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64) * 1.5


LEARNABLE = ["none", "layer", "timestep"]
CF_OPTIONS = list(itertools.product([1, 3], [True, False], [True, False], LEARNABLE))


@pytest.fixture(params=sorted(KERNELS))
def kernel(request) -> str:
    return request.param


@pytest.mark.parametrize("levels,bipolar,detach_reset,learnable", CF_OPTIONS)
def test_cf_kernel_matches_reference(levels, bipolar, detach_reset, learnable, kernel):
    neuron = learning_cf_neuron(levels, bipolar, detach_reset, learnable, T)
    spikes, _ = assert_kernel_matches_reference(neuron, random_input(levels * 10 + bipolar), kernel)
    assert spikes.abs().max() == levels  # the sequence reaches saturation, so the test covers it


@pytest.mark.parametrize(
    "reset,detach_reset,kind", list(itertools.product(["soft", "hard"], [True, False], SURROGATES.kinds()))
)
def test_lif_kernel_matches_reference(reset, detach_reset, kind, kernel):
    neuron = LIFNeuron(
        tau=3.0,
        learn_tau=True,
        threshold=0.7,
        learn_threshold=True,
        reset=reset,
        v_reset=-0.2,
        detach_reset=detach_reset,
        surrogate=build_surrogate(kind, learnable="timestep", timesteps=T),
    )
    assert_kernel_matches_reference(neuron, random_input(7), kernel)


def test_every_learnable_gets_a_nonzero_gradient():
    """A guard on the test above: equal gradients that are all zero would prove nothing."""
    neuron = CFNeuron(
        tau=2.5,
        learn_tau=True,
        learn_threshold=True,
        levels=3,
        surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=T),
    )
    _, grads = spikes_and_gradients(neuron, random_input(3), KERNELS["autograd-function"])
    assert all(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(
    "levels,bipolar,detach_reset,kind",
    list(itertools.product([1, 3], [True, False], [True, False], SURROGATES.kinds())),
)
def test_cf_with_fixed_decay_and_threshold_matches_reference(levels, bipolar, detach_reset, kind, kernel):
    """The default path: β and θ are constants, so the kernel never recomputes spikes in backward."""
    neuron = CFNeuron(
        tau=2.0,
        threshold=0.6,
        levels=levels,
        bipolar=bipolar,
        detach_reset=detach_reset,
        surrogate=build_surrogate(kind, learnable="timestep", timesteps=T),
    )
    _, grads = assert_kernel_matches_reference(neuron, random_input(11), kernel)
    assert len(grads) == 2  # x and the per-step α


@pytest.mark.gpu
def test_kernel_on_cuda_gives_the_cpu_spikes_and_gradients():
    neuron = CFNeuron(
        tau=2.5,
        learn_tau=True,
        learn_threshold=True,
        levels=3,
        surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=T),
    )
    x = random_input(5)
    cpu_spikes, cpu_grads = spikes_and_gradients(neuron, x, KERNELS["autograd-function"])
    cuda_spikes, cuda_grads = spikes_and_gradients(neuron.cuda(), x.cuda(), KERNELS["autograd-function"])
    assert torch.equal(cuda_spikes.cpu(), cpu_spikes)
    for got, want in zip(cuda_grads, cpu_grads, strict=True):
        assert torch.allclose(got.cpu(), want, atol=1e-9, rtol=1e-9)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_triton_on_cuda_gives_the_cpu_kernels_spikes_and_gradients(dtype, layout):
    """The compiled Triton kernel (not its interpreter) against the fused CPU kernel."""
    from cfsnn_cli.neurons.triton_sequence import TritonNeuronSequence

    neuron = CFNeuron(
        tau=2.5,
        learn_tau=True,
        learn_threshold=True,
        levels=3,
        bipolar=True,
        surrogate=build_surrogate("atan", learnable="timestep", timesteps=T),
    ).to(dtype)
    x = random_input(7, shape=(T, 4, 6, 5, 5)).to(dtype)
    if layout == "channels_last":
        x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)

    def run(device, kernel):
        inputs = x.to(device).requires_grad_()
        moved = neuron.to(device)
        alpha = moved.surrogate.alpha_for(T, inputs, needs_grad=True)
        spikes, positive, negative = kernel(
            inputs, moved.decay_value(), moved.threshold_value(), alpha, moved.rule, True
        )
        weights = torch.linspace(-1, 2, spikes.numel(), device=device, dtype=dtype).reshape(spikes.shape)
        loss = (spikes * weights).sum() + 0.3 * positive.sum() - 0.7 * negative.sum()
        grads = torch.autograd.grad(loss, [inputs, *moved.parameters()])
        return [spikes, positive, negative, *grads]

    cpu = [value.detach().cpu() for value in run("cpu", KERNELS["numba-fused"])]
    cuda = [value.detach().cpu() for value in run("cuda", TritonNeuronSequence.apply)]
    assert torch.equal(cuda[0], cpu[0])  # H rounds alike: no fused multiply-add, an exact H/θ
    tolerance = 1e-4 if dtype == torch.float32 else 1e-9
    for got, want in zip(cuda[1:], cpu[1:], strict=True):
        assert torch.allclose(got, want, rtol=tolerance, atol=tolerance), (got - want).abs().max()


@pytest.mark.gpu
def test_auto_runs_triton_on_cuda():
    from cfsnn_cli.neurons.backends import sequence_kernel
    from cfsnn_cli.neurons.triton_sequence import run_triton

    assert sequence_kernel("auto", torch.zeros(2, 3, device="cuda"), CFNeuron().rule) is run_triton
