"""Which kernel runs (neuron.backend), and what every kernel must do beyond the equations: any
memory layout, any thread count, a float32 membrane under bfloat16 autocast."""

import os
import subprocess
import sys

import pytest
import torch

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.neurons import CFNeuron, IFNeuron, LIFNeuron, observe
from cfsnn_cli.neurons.backends import sequence_kernel
from cfsnn_cli.neurons.fused import run_fused
from cfsnn_cli.neurons.kernel import NeuronSequence
from cfsnn_cli.surrogates import SigmoidSurrogate, build_surrogate
from tests.neurons.kernel_check import CPU_BACKENDS


class TorchOnlyGaussian(SigmoidSurrogate):
    """A user's own surrogate whose F' calls torch: it cannot be compiled into the fused kernel."""

    @staticmethod
    def derivative(z):
        return torch.exp(-z * z)


def per_step_cf(**options) -> CFNeuron:
    return CFNeuron(levels=2, surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=4), **options)


def test_auto_picks_the_fused_kernel_on_the_cpu_and_torch_where_numba_cannot_run():
    neuron = CFNeuron()
    x = torch.zeros(2, 3)
    assert sequence_kernel("auto", x, neuron.rule) is run_fused
    assert sequence_kernel("torch", x, neuron.rule) == NeuronSequence.apply
    assert sequence_kernel("auto", x.half(), neuron.rule) == NeuronSequence.apply
    custom = CFNeuron(surrogate=TorchOnlyGaussian())
    assert sequence_kernel("auto", x, custom.rule) == NeuronSequence.apply


def test_numba_asked_for_where_it_cannot_run_is_one_clear_error():
    custom = CFNeuron(surrogate=TorchOnlyGaussian(), backend="numba")
    with pytest.raises(CfsnnError, match=r"neuron\.backend.*elementwise.*TorchOnlyGaussian.*auto"):
        custom(torch.zeros(2, 3))


def test_triton_asked_for_where_it_cannot_run_is_one_clear_error(monkeypatch):
    from cfsnn_cli.neurons import triton_sequence

    monkeypatch.setattr(triton_sequence, "interpreted", lambda: False)  # as on a CPU without the interpreter
    with pytest.raises(CfsnnError, match=r'neuron\.backend: "triton" runs float32/float64 on a CUDA device.*cpu.*auto'):
        CFNeuron(backend="triton")(torch.zeros(2, 3))
    assert sequence_kernel("auto", torch.zeros(2, 3), CFNeuron().rule) is run_fused  # auto is not refused


def test_triton_refuses_a_surrogate_whose_derivative_calls_torch_and_auto_falls_back():
    custom = CFNeuron(surrogate=TorchOnlyGaussian(), backend="triton")
    with pytest.raises(CfsnnError, match=r"neuron\.backend.*elementwise.*TorchOnlyGaussian.*auto"):
        custom(torch.zeros(2, 3))
    assert sequence_kernel("auto", torch.zeros(2, 3), custom.rule) == NeuronSequence.apply


def test_an_unknown_backend_is_refused_naming_the_field():
    with pytest.raises(CfsnnError, match="backend: must be one of auto, numba, torch, triton"):
        CFNeuron(backend="cuda")


def run(neuron, x):
    """Spikes, Σrelu(±H) and the gradients wrt x and every parameter, for one weighted loss."""
    x = x.detach().clone().requires_grad_()
    with observe() as seen:
        spikes = neuron(x)
    layer = seen.layers[0]
    weights = torch.linspace(-1, 2, spikes.numel()).reshape(spikes.shape)
    loss = (spikes * weights).sum() + 0.3 * layer.positive.sum() - 0.7 * layer.negative.sum()
    grads = torch.autograd.grad(loss, [x, *neuron.parameters()])
    return spikes, layer.positive, layer.negative, grads


def assert_same_run(got, want, tolerance=0.0):
    assert bool(want[0].gt(0).any()) and bool(want[0].lt(0).any()), "both polarities fire, or nothing is compared"
    for a, b in zip(got[:3], want[:3], strict=True):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-5), (a - b).abs().max()
    assert torch.equal(got[0], want[0])
    for a, b in zip(got[3], want[3], strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 + tolerance), (a - b).abs().max()


def test_backends_agree_on_spikes_statistics_and_gradients_in_float32():
    x = torch.randn(4, 8, 6, 5, 5, generator=torch.Generator().manual_seed(0)) * 2
    runs = {}
    for backend in CPU_BACKENDS:
        torch.manual_seed(0)
        runs[backend] = run(per_step_cf(learn_tau=True, learn_threshold=True, tau=2.0, backend=backend), x)
    assert_same_run(runs["numba"], runs["torch"])
    assert_same_run(runs["auto"], runs["numba"], tolerance=0)


FUSED_BACKENDS = [b for b in CPU_BACKENDS if b in ("numba", "triton")]  # they read a layout in place


@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_a_channels_last_input_gives_the_contiguous_results_without_a_copy(backend):
    x = torch.randn(4, 3, 6, 5, 7, generator=torch.Generator().manual_seed(1)) * 2
    # [T, B, C, H, W] stored as T, B, H, W, C: what a channels-last network's neurons receive
    channels_last = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    assert not channels_last.is_contiguous()
    neuron = per_step_cf(backend=backend)
    got, want = run(neuron, channels_last), run(neuron, x)
    assert_same_run(got, want)
    assert got[0].stride() == channels_last.stride()  # the spikes keep the layout


@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_any_other_layout_is_read_correctly(backend):
    x = torch.randn(4, 6, 3, 5, generator=torch.Generator().manual_seed(2)) * 2
    transposed = x.transpose(1, 3).contiguous().transpose(1, 3)  # batch innermost
    neuron = per_step_cf(backend=backend)
    assert_same_run(run(neuron, transposed), run(neuron, x))


def test_results_do_not_depend_on_the_number_of_threads():
    # large enough to run on two threads in several work items (fused.PARALLEL_WORK, numba_kernel.BLOCKS)
    x = torch.randn(4, 16, 16, 32, 32, generator=torch.Generator().manual_seed(3))
    neuron = per_step_cf(learn_tau=True, learn_threshold=True, tau=2.0, backend="numba")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = run(neuron, x)
        torch.set_num_threads(2)
        two = run(neuron, x)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip([*one[:3], *one[3]], [*two[:3], *two[3]], strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("backend", [b for b in CPU_BACKENDS if b != "auto"])
def test_under_bf16_autocast_the_membrane_stays_float32(backend):
    """In bfloat16, 0.9 + 0.0015 rounds back to 0.9: a bf16 membrane would never reach θ = 1."""
    neuron = IFNeuron(v_init=0.9, backend=backend)
    x = torch.full((80, 1), 0.0015).bfloat16()  # what a bf16 layer hands the neuron
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spikes = neuron(x)
    assert spikes.dtype == torch.bfloat16
    assert spikes.sum() == 1
    assert torch.equal(spikes.float(), neuron(x.float()))  # as in float32, from the same inputs


def test_spikes_up_to_256_are_exact_in_bf16():
    neuron = CFNeuron(levels=256)
    x = torch.tensor([[300.5, -300.5, 255.5, 7.5]])  # float32 (255.5 is not a bf16 number)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spikes = neuron(x)
    assert spikes.dtype == torch.bfloat16
    assert spikes.tolist() == [[256.0, -256.0, 255.0, 7.0]]


def test_gradients_flow_back_through_the_precision_casts():
    neuron = LIFNeuron(learn_threshold=True, surrogate=build_surrogate("sigmoid", learnable="layer"))
    x = torch.randn(3, 4, 5).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spikes = neuron(x)
    spikes.float().sum().backward()
    assert x.grad.dtype == torch.bfloat16 and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in neuron.parameters())


@pytest.mark.slow  # torch.compile builds C++ for the linear layer: ~15 s
def test_torch_compile_runs_around_the_fused_kernel():
    """torch.compile must not trace into numba (it would trace numba's compiler and fail there)."""
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), CFNeuron(backend="numba"))
    x = torch.randn(4, 2, 8)
    compiled = torch.compile(model)
    spikes = compiled(x)
    spikes.sum().backward()
    assert torch.equal(spikes, model(x))


def test_the_fused_kernel_leaves_torchs_thread_count_alone():
    """numba's OpenMP pool shares the runtime with torch: starting it reset torch to numba's count,
    which changed torch's own sums mid-run (and broke an exact --resume). A fresh process, so that
    the pool starts inside the test."""
    script = (
        "import torch\n"
        "from cfsnn_cli.neurons import CFNeuron\n"
        "CFNeuron(backend='numba')(torch.randn(4, 64, 16, 32, 32, requires_grad=True)).sum().backward()\n"
        "print(torch.get_num_threads())\n"
    )
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_changing_a_fixed_number_after_a_forward_takes_effect(backend):
    """Fixed β, θ and α are kept as tensors between forwards; a new value must not be ignored."""
    neuron = CFNeuron(threshold=0.4, backend=backend)
    x = torch.full((1, 1), 0.5)
    assert neuron(x).item() == 1
    neuron.threshold = 1.0
    assert neuron(x).item() == 0
    assert torch.equal(neuron(x)[0], neuron.step(x[0], neuron.initial_state(x[0]))[0])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_the_output_may_be_modified_in_place(backend):
    """As nn.ReLU(inplace=True) or `y += skip` do after a layer; the usual case saves no spikes."""
    neuron = per_step_cf(backend=backend)
    x = torch.randn(4, 2, 3, 5, 5, requires_grad=True)
    spikes = neuron(x)
    spikes.mul_(0.5)
    spikes.sum().backward()
    assert x.grad.abs().sum() > 0
