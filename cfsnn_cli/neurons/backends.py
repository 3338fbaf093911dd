"""Which kernel runs a neuron layer: the recipe's `neuron.backend`.

    "torch"   the loop of tensor operations in kernel.py: any device and dtype;
    "numba"   the fused CPU kernel (fused.py): float32/float64 on the CPU, any surrogate whose F′
              compiles (written with arithmetic, abs and cfsnn_cli.surrogates.elementwise);
    "triton"  the fused GPU kernel (triton_sequence.py): float32/float64 on CUDA (on the CPU only
              under Triton's interpreter, TRITON_INTERPRET=1, which is how CI checks it);
    "auto"    triton on CUDA, numba on the CPU, torch where neither runs.

Half-precision inputs reach every kernel as float32 (`SpikingNeuron.forward`): the membrane is
float32 at least. docs/performance.md has the measurements behind the choice.
"""

from collections.abc import Callable
from typing import Literal, get_args

import torch

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.kernel import NeuronSequence

Backend = Literal["auto", "numba", "torch", "triton"]
BACKENDS = get_args(Backend)
"""The values `backend` takes: "auto", "numba", "torch", "triton"."""


def sequence_kernel(backend: Backend, x_seq: torch.Tensor, rule: FiringRule) -> Callable:
    """The kernel that runs `rule` over `x_seq` for `backend`: a callable taking (x_seq, β, θ, α,
    rule, record) and returning (spikes, Σrelu(H) per channel, Σrelu(−H) per channel).

    Raises:
        CfsnnError: "numba" or "triton" was asked for an input or surrogate it does not take.
    """
    if backend == "torch":
        return NeuronSequence.apply
    if backend == "triton" or (backend == "auto" and x_seq.device.type == "cuda"):
        return _triton_kernel(backend, x_seq, rule)
    # imported on first use: numba costs ~0.3 s to import, which `cfsnn --help` should not pay
    from cfsnn_cli.neurons.fused import fused_kernel_runs, run_fused

    if fused_kernel_runs(x_seq, rule):
        return run_fused
    if backend == "numba":
        raise CfsnnError(
            "neuron.backend",
            f'"numba" runs float32/float64 on the CPU with a surrogate whose derivative compiles (written '
            f"with arithmetic, abs and cfsnn_cli.surrogates.elementwise); this layer has a {x_seq.dtype} "
            f"input on {x_seq.device} and a {type(rule.surrogate).__name__}; "
            'use "auto" to fall back to "torch" where numba cannot run',
        )
    return NeuronSequence.apply


def _triton_kernel(backend: Backend, x_seq: torch.Tensor, rule: FiringRule) -> Callable:
    """The Triton kernel, or for "auto" the torch one where Triton is missing or does not take `x_seq`."""
    try:
        from cfsnn_cli.neurons.triton_sequence import run_triton, triton_kernel_runs
    except ImportError as error:  # triton comes with torch's Linux wheels only
        if backend == "auto":
            return NeuronSequence.apply
        raise CfsnnError("neuron.backend", f'"triton" needs the triton package ({error})') from None
    if triton_kernel_runs(x_seq, rule):
        return run_triton
    if backend == "auto":
        return NeuronSequence.apply
    raise CfsnnError(
        "neuron.backend",
        f'"triton" runs float32/float64 on a CUDA device with a surrogate whose derivative is written '
        f"with arithmetic, abs and cfsnn_cli.surrogates.elementwise; this layer has a {x_seq.dtype} input "
        f"on {x_seq.device} and a {type(rule.surrogate).__name__}; "
        'use "auto" (triton on CUDA, numba on the CPU, torch where neither runs)',
    )
