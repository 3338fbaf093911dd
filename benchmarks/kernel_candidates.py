"""Which technology should fuse the CF neuron's forward+backward on the CPU? A measurement, not a
library: torch.compile of a plain loop, a C++ extension (torch.utils.cpp_extension.load_inline) and
numba, side by side in one process, each first checked equal to cfsnn's plain autograd reference.

    python benchmarks/kernel_candidates.py                  # 2 threads, both shapes, D = 1 and 3
    python benchmarks/kernel_candidates.py --repeats 15 --json candidates.json

The problem is fixed: the CF neuron, bipolar, soft reset, β = 0.5, θ = 1, levels D = 1 and 3, a
sigmoid surrogate with one learnable α per step (its gradient dα_t is a sum over all elements of
step t), float32, shapes [T, B, C, H, W] = [4, 32, 64, 32, 32] and [8, 16, 128, 16, 16]:

    forward   H_t = β·V_{t−1} + X_t,  N_t = clamp(trunc(H_t/θ), −D, D),  V_t = H_t − θ·N_t
    backward  through Σ_k σ(α_t(H − kθ)) − Σ_k σ(α_t(−H − kθ)) in place of N (straight through)

The fused candidates share one structure: parallel over chunks of neurons, sequential over T inside
a chunk (so a chunk's previous step is still in cache), forward saves H and the spikes, backward
walks time in reverse and evaluates every crossing's surrogate derivative in the same pass,
summing dα_t per chunk in float64. V_{t−1} is recomputed as H − θ·N from what forward has just
written, and backward's dL/dV_t is β·dX_{t+1}, so neither keeps a state buffer. The exp they need
is a polynomial (Cephes' expf) that the compilers can vectorise; e = exp(−|z|) keeps
σ'(z) = e/(1 + e)² free of overflow.

Rows for scale: cfsnn's CFNeuron with the same surrogate on its loop of tensor operations
(backend="torch", the kernel before this measurement) and on the numba kernel that has since
landed (backend="numba"), and SpikingJelly's multi-step LIFNode (τ = 2, decay_input=False, soft
reset, Sigmoid(α = 4)). "fresh" rows allocate their outputs on every call as autograd does;
"reused buffers" rows call the kernels on buffers allocated once, which shows what glibc's fresh
mmap (first-touch page faults on tensors over 32 MiB) costs. Times are medians of interleaved
rounds (every contender once per round), over the rounds in which other processes were quiet
(common.interleaved_timing), with torch and numba set to 2 threads; the bandwidth bound
is 24 bytes per element (x, H and N in forward; H, dL/dN and dX in backward) at the copy bandwidth
measured here for a tensor of the shape's size.

Needs a C++ compiler and ninja (the `bench` extra has ninja; numba is a dependency of cfsnn) and
SpikingJelly for its row (`pip install --no-deps spikingjelly==2.0.0`: its package pins torchaudio).
"""

import argparse
import functools
import json
import os
import tempfile
import time

import numpy as np

# a cache folder of its own, so that torch.compile's times are cold ones (read when inductor is imported)
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor-"))

import torch
from common import copy_bandwidth, interleaved_timing, machine_description
from neurons import spikingjelly_lif
from rich.console import Console
from rich.table import Table

from cfsnn_cli.neurons import CFNeuron
from cfsnn_cli.neurons.firing import FiringRule
from cfsnn_cli.neurons.reference import reference_sequence
from cfsnn_cli.surrogates import SigmoidSurrogate, build_surrogate

SHAPES = [(4, 32, 64, 32, 32), (8, 16, 128, 16, 16)]
LEVELS = (1, 3)
BETA, THETA, ALPHA = 0.5, 1.0, 4.0
CHUNK = 4096  # neurons per task: x, H and N of one chunk (48 KiB) stay in L2 from one step to the next
BYTES_PER_ELEMENT = 24  # fp32: x, H, N in forward; H, dL/dN, dX in backward
THREADS = 2
TORCH_KERNEL = "cfsnn backend=torch (the kernel before)"


# -- (a) torch.compile of a plain loop ---------------------------------------------------------------
def plain_loop(x_seq: torch.Tensor, alpha: torch.Tensor, levels: int) -> torch.Tensor:
    v = torch.zeros_like(x_seq[0])
    spikes = []
    for t in range(x_seq.shape[0]):
        h = BETA * v + x_seq[t]
        hard = torch.clamp(torch.trunc(h / THETA), -levels, levels)
        smooth = sum(
            torch.sigmoid(alpha[t] * (h - k * THETA)) - torch.sigmoid(alpha[t] * (-h - k * THETA))
            for k in range(1, levels + 1)
        )
        n = hard + (smooth - smooth.detach())  # the hard count in forward, the smooth one's gradient
        spikes.append(n)
        v = h - THETA * n
    return torch.stack(spikes)


# -- (b) a C++ extension ----------------------------------------------------------------------------
CPP_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cmath>
#include <cstring>

namespace {

// Written so that GCC vectorises every loop: no std::max/min with a constant (it takes the constant by
// reference, which GCC's simd lowering cannot widen), -fno-trapping-math for floor and trunc.

// exp(x) for x <= 0: Cephes' expf polynomial and an exponent built from bits
inline float exp_nonpositive(float x) {
  x = x > -87.0f ? x : -87.0f;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// F'(z) = s(1 − s) of the sigmoid, as e/(1 + e)² with e = exp(−|z|)
inline float sigmoid_slope(float z) {
  const float e = exp_nonpositive(-std::fabs(z));
  const float d = 1.0f + e;
  return e / (d * d);
}

inline float clamp_levels(float q, float d) { return q < -d ? -d : (q > d ? d : q); }

// H = β·V + X and V = H − θ·N must round as torch's separate operations do, or spikes differ at the
// thresholds: no fused multiply-adds here (backward may use them)
template <int D, bool First>
__attribute__((optimize("fp-contract=off"))) void forward_step(
    const float* x, const float* h_prev, const float* n_prev, float* h, float* n, int64_t begin, int64_t end,
    float beta, float theta) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const float v = First ? 0.0f : h_prev[i] - theta * n_prev[i];
    const float hi = beta * v + x[i];
    h[i] = hi;
    n[i] = clamp_levels(std::trunc(hi / theta), float(D));
  }
}

template <int D, bool Last>
inline double backward_step(const float* h, const float* g, const float* dx_next, float* dx,
                            int64_t begin, int64_t end, float alpha, float beta, float theta) {
  double dalpha = 0.0;
#pragma omp simd reduction(+ : dalpha)
  for (int64_t i = begin; i < end; ++i) {
    const float hi = h[i];
    const float gv = Last ? 0.0f : beta * dx_next[i];  // dL/dV_t = β·dL/dH_{t+1}
    const float gn = g[i] - theta * gv;                 // dL/dN_t, through the output and the reset
    float slope = 0.0f, u_slope = 0.0f;
    for (int k = 1; k <= D; ++k) {
      const float up = hi - k * theta, un = -hi - k * theta;
      const float fp = sigmoid_slope(alpha * up), fn = sigmoid_slope(alpha * un);
      slope += fp + fn;
      u_slope += up * fp - un * fn;
    }
    dx[i] = gn * alpha * slope + gv;
    dalpha += static_cast<double>(gn * u_slope);
  }
  return dalpha;
}

template <int D>
void forward_impl(const float* x, float* h, float* n, int64_t T, int64_t N, float beta, float theta) {
  const int64_t chunks = (N + CHUNK - 1) / CHUNK;
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t begin = c * CHUNK, end = std::min(begin + CHUNK, N);
      forward_step<D, true>(x, nullptr, nullptr, h, n, begin, end, beta, theta);
      for (int64_t t = 1; t < T; ++t)
        forward_step<D, false>(x + t * N, h + (t - 1) * N, n + (t - 1) * N, h + t * N, n + t * N, begin, end,
                               beta, theta);
    }
  });
}

template <int D>
void backward_impl(const float* h, const float* g, const float* alpha, float* dx, double* partial, int64_t T,
                   int64_t N, float beta, float theta) {
  const int64_t chunks = (N + CHUNK - 1) / CHUNK;
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t begin = c * CHUNK, end = std::min(begin + CHUNK, N);
      const int64_t last = (T - 1) * N;
      partial[c * T + T - 1] =
          backward_step<D, true>(h + last, g + last, nullptr, dx + last, begin, end, alpha[T - 1], beta, theta);
      for (int64_t t = T - 2; t >= 0; --t)
        partial[c * T + t] = backward_step<D, false>(h + t * N, g + t * N, dx + (t + 1) * N, dx + t * N, begin,
                                                     end, alpha[t], beta, theta);
    }
  });
}

}  // namespace

void cf_forward(at::Tensor x, at::Tensor h, at::Tensor n, int64_t levels, double beta, double theta) {
  const int64_t T = x.size(0), N = x.numel() / T;
  auto run = [&](auto impl) { impl(x.data_ptr<float>(), h.data_ptr<float>(), n.data_ptr<float>(), T, N,
                                   float(beta), float(theta)); };
  switch (levels) {
    case 1: run(forward_impl<1>); break;
    case 3: run(forward_impl<3>); break;
    default: TORCH_CHECK(false, "levels must be 1 or 3");
  }
}

void cf_backward(at::Tensor h, at::Tensor g, at::Tensor alpha, at::Tensor dx, at::Tensor partial, int64_t levels,
                 double beta, double theta) {
  const int64_t T = h.size(0), N = h.numel() / T;
  auto run = [&](auto impl) { impl(h.data_ptr<float>(), g.data_ptr<float>(), alpha.data_ptr<float>(),
                                   dx.data_ptr<float>(), partial.data_ptr<double>(), T, N, float(beta),
                                   float(theta)); };
  switch (levels) {
    case 1: run(backward_impl<1>); break;
    case 3: run(backward_impl<3>); break;
    default: TORCH_CHECK(false, "levels must be 1 or 3");
  }
}
"""
CPP_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", f"-DCHUNK={CHUNK}"]


def build_cpp(build_directory: str | None = None):
    """The extension, built cold in a temporary folder unless `build_directory` is given (then cached)."""
    from torch.utils.cpp_extension import load_inline

    with tempfile.TemporaryDirectory() as folder:  # a cold build by default: its cost is one of the results
        module = load_inline(
            "cf_candidate",
            CPP_SOURCE,
            functions=["cf_forward", "cf_backward"],
            extra_cflags=CPP_FLAGS,
            extra_ldflags=["-fopenmp"],
            build_directory=build_directory or folder,
        )

    class Cpp:
        @staticmethod
        def forward(x, h, n, levels):
            module.cf_forward(x, h, n, levels, BETA, THETA)

        @staticmethod
        def backward(h, g, alpha, dx, partial, levels):
            module.cf_backward(h, g, alpha, dx, partial, levels, BETA, THETA)

    return Cpp


# -- (c) numba ---------------------------------------------------------------------------------------
# Backward only: H's rounding in forward must match torch's, so forward gets no fast-math at all, and
# no flag here assumes away NaN or inf ("nnan", "ninf"): they reach the gradient as they should.
NUMBA_FASTMATH = {"nsz", "contract", "arcp", "reassoc", "afn"}


def build_numba():
    import numba
    from llvmlite import ir
    from numba.extending import intrinsic

    numba.set_num_threads(THREADS)
    f32 = np.float32

    @intrinsic
    def bits_as_float32(typingctx, bits):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())

        return numba.types.float32(numba.types.int32), codegen

    @numba.njit(inline="always", error_model="numpy", fastmath=NUMBA_FASTMATH)
    def exp_nonpositive(x):  # the C++ one, line for line: numba's math.exp is not vectorised
        x = max(x, f32(-87.0))
        n = np.floor(x * f32(1.44269504088896341) + f32(0.5))
        r = x - n * f32(0.693359375) - n * f32(-2.12194440e-4)
        p = f32(1.9875691500e-4)
        p = p * r + f32(1.3981999507e-3)
        p = p * r + f32(8.3334519073e-3)
        p = p * r + f32(4.1665795894e-2)
        p = p * r + f32(1.6666665459e-1)
        p = p * r + f32(5.0000001201e-1)
        p = p * r * r + r + f32(1.0)
        return p * bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))

    @numba.njit(inline="always", error_model="numpy", fastmath=NUMBA_FASTMATH)
    def sigmoid_slope(z):
        e = exp_nonpositive(-abs(z))
        d = f32(1.0) + e
        return e / (d * d)

    kernels = {}
    for levels in LEVELS:  # one compiled kernel per D: a runtime D stops the crossing loop unrolling
        kernels[levels] = numba_kernels(levels, sigmoid_slope)

    class Numba:
        @staticmethod
        def forward(x, h, n, levels):
            kernels[levels][0](flat(x), f32(BETA), f32(THETA), flat(h), flat(n))

        @staticmethod
        def backward(h, g, alpha, dx, partial, levels):
            kernels[levels][1](flat(h), flat(g), alpha.numpy(), f32(BETA), f32(THETA), flat(dx), partial.numpy())

    return Numba


def flat(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().reshape(tensor.shape[0], -1).numpy()


def numba_kernels(levels: int, sigmoid_slope):
    """(forward, backward) for one D. The loops over a chunk work on 1-D row slices, which numba types as
    contiguous: indexing the 2-D arrays inside the parallel loop left LLVM's loops scalar."""
    import numba

    f32 = np.float32
    lowest, highest = f32(-levels), f32(levels)

    # forward gets no fast-math: H = β·V + X must round as torch's two operations do
    @numba.njit(error_model="numpy")
    def fire_first(x, theta, h, n):  # V_0 = 0, so H_1 = X_1
        for i in range(x.shape[0]):
            h[i] = x[i]
            n[i] = min(max(np.trunc(x[i] / theta), lowest), highest)

    @numba.njit(error_model="numpy")
    def fire_next(x, h_prev, n_prev, beta, theta, h, n):
        for i in range(x.shape[0]):
            hi = beta * (h_prev[i] - theta * n_prev[i]) + x[i]  # V_{t−1} = H_{t−1} − θ·N_{t−1}
            h[i] = hi
            n[i] = min(max(np.trunc(hi / theta), lowest), highest)

    @numba.njit(parallel=True, error_model="numpy")
    def forward(x, beta, theta, h, n):
        steps, size = x.shape
        for c in numba.prange((size + CHUNK - 1) // CHUNK):
            b, e = c * CHUNK, min(c * CHUNK + CHUNK, size)
            fire_first(x[0, b:e], theta, h[0, b:e], n[0, b:e])
            for t in range(1, steps):
                fire_next(x[t, b:e], h[t - 1, b:e], n[t - 1, b:e], beta, theta, h[t, b:e], n[t, b:e])

    @numba.njit(inline="always", error_model="numpy", fastmath=NUMBA_FASTMATH)
    def crossings(hi, alpha, theta):
        """(Σ_k F'(α·u_k), Σ_k s_k·u_k·F'(α·u_k)) over the 2D crossings u = ±H − kθ with sign s = ±1."""
        slope, u_slope = f32(0.0), f32(0.0)
        for k in range(1, levels + 1):
            up = hi - f32(k) * theta
            un = -hi - f32(k) * theta
            fp = sigmoid_slope(alpha * up)
            fn = sigmoid_slope(alpha * un)
            slope += fp + fn
            u_slope += up * fp - un * fn
        return slope, u_slope

    @numba.njit(error_model="numpy", fastmath=NUMBA_FASTMATH)
    def unfire_last(h, g, alpha, theta, dx):  # V_T feeds nothing
        total = 0.0
        for i in range(h.shape[0]):
            slope, u_slope = crossings(h[i], alpha, theta)
            dx[i] = g[i] * alpha * slope
            total += g[i] * u_slope
        return total

    @numba.njit(error_model="numpy", fastmath=NUMBA_FASTMATH)
    def unfire(h, g, dx_next, alpha, beta, theta, dx):
        total = 0.0
        for i in range(h.shape[0]):
            gv = beta * dx_next[i]  # dL/dV_t = β·dL/dH_{t+1}
            gn = g[i] - theta * gv  # dL/dN_t, through the output and the reset
            slope, u_slope = crossings(h[i], alpha, theta)
            dx[i] = gn * alpha * slope + gv
            total += gn * u_slope
        return total

    @numba.njit(parallel=True, error_model="numpy")
    def backward(h, g, alpha, beta, theta, dx, partial):
        steps, size = h.shape
        last = steps - 1
        for c in numba.prange((size + CHUNK - 1) // CHUNK):
            b, e = c * CHUNK, min(c * CHUNK + CHUNK, size)
            partial[c, last] = unfire_last(h[last, b:e], g[last, b:e], alpha[last], theta, dx[last, b:e])
            for t in range(last - 1, -1, -1):
                partial[c, t] = unfire(h[t, b:e], g[t, b:e], dx[t + 1, b:e], alpha[t], beta, theta, dx[t, b:e])

    return forward, backward


# -- the fused candidates behind autograd -----------------------------------------------------------
class FusedCF(torch.autograd.Function):
    """x_seq [T, ...], α [T] → spikes; `kernel` is Cpp or Numba above."""

    @staticmethod
    def forward(ctx, x_seq, alpha, kernel, levels):
        h, n = torch.empty_like(x_seq), torch.empty_like(x_seq)
        kernel.forward(x_seq, h, n, levels)
        ctx.save_for_backward(h, alpha)
        ctx.kernel, ctx.levels = kernel, levels
        return n

    @staticmethod
    def backward(ctx, grad_spikes):
        h, alpha = ctx.saved_tensors
        dx = torch.empty_like(h)
        partial = torch.empty(chunks_of(h), h.shape[0], dtype=torch.float64)
        ctx.kernel.backward(h, grad_spikes.contiguous(), alpha.detach().contiguous(), dx, partial, ctx.levels)
        return dx, partial.sum(0).to(alpha.dtype), None, None


def chunks_of(tensor: torch.Tensor) -> int:
    return -(-(tensor.numel() // tensor.shape[0]) // CHUNK)


# -- correctness ----------------------------------------------------------------------------------
def reference_gradients(x, grad, alpha, levels):
    rule = FiringRule(
        levels=levels,
        bipolar=True,
        hard_reset=False,
        v_reset=0.0,
        detach_reset=False,
        v_init=0.0,
        surrogate=SigmoidSurrogate(),
    )
    return gradients(
        lambda x_, a_: reference_sequence(x_, torch.tensor(BETA), torch.tensor(THETA), a_, rule)[0], x, grad, alpha
    )


def gradients(call, x, grad, alpha):
    x_, a_ = x.detach().clone().requires_grad_(), alpha.detach().clone().requires_grad_()
    spikes = call(x_, a_)
    spikes.backward(grad)
    return spikes.detach(), x_.grad, a_.grad


def check(name, got, want):
    """Spikes identical, dX within 1e-5 of the largest |dX|, each dα_t within 1e-4 relative."""
    (spikes, dx, dalpha), (ref_spikes, ref_dx, ref_dalpha) = got, want
    mismatched = int((spikes != ref_spikes).sum())
    dx_error = float((dx - ref_dx).abs().max() / ref_dx.abs().max())
    dalpha_error = float(((dalpha.double() - ref_dalpha.double()).abs() / ref_dalpha.double().abs()).max())
    ok = mismatched == 0 and dx_error <= 1e-5 and dalpha_error <= 1e-4
    return {"name": name, "ok": ok, "spikes_differing": mismatched, "dx_error": dx_error, "dalpha_error": dalpha_error}


# -- the contenders of one (shape, D) ----------------------------------------------------------------
def fresh(call, x, alpha, grad):
    def run():
        x.grad = alpha.grad = None
        call(x, alpha).backward(grad)

    return run


def reused(kernel, x, alpha, grad, levels):
    h, n, dx = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    partial = torch.empty(chunks_of(x), x.shape[0], dtype=torch.float64)
    alpha_values = alpha.detach()

    def run():
        kernel.forward(x, h, n, levels)
        kernel.backward(h, grad, alpha_values, dx, partial, levels)
        partial.sum(0)

    return run


def cfsnn_neuron(levels, timesteps, backend):
    """cfsnn's CFNeuron with the same surrogate (its α learnable through softplus, started at the same value)."""
    neuron = CFNeuron(
        levels=levels,
        bipolar=True,
        surrogate=build_surrogate("sigmoid", alpha=ALPHA, learnable="timestep", timesteps=timesteps),
        backend=backend,
    )
    return lambda x, alpha: neuron(x)


def timed(step, *args):
    start = time.perf_counter()
    result = step(*args)
    return result, time.perf_counter() - start


def measure_group(shape, levels, kernels, repeats, console, build_times):
    """Check, then time, every contender at one (shape, D): (timing rows, check rows)."""
    timesteps = shape[0]
    x = (torch.randn(shape) * 1.5).requires_grad_()
    grad = torch.randn(shape)  # a dense dL/dN: `.sum().backward()` would hand the kernels a broadcast 1
    alpha = torch.full((timesteps,), ALPHA).requires_grad_()
    label = f"{'×'.join(map(str, shape))} D={levels}"
    compiled = torch.compile(functools.partial(plain_loop, levels=levels), dynamic=False)
    candidates = {
        "torch.compile loop": compiled,
        "C++ extension": lambda x_, a_: FusedCF.apply(x_, a_, kernels["cpp"], levels),
        "numba": lambda x_, a_: FusedCF.apply(x_, a_, kernels["numba"], levels),
    }
    with console.status(f"reference and checks, {label}"):
        want = reference_gradients(x, grad, alpha, levels)
        checks = []
        for name, call in candidates.items():  # a first call compiles; what it costs beyond a warm call is reported
            got, first = timed(gradients, call, x, grad, alpha)
            _, warm = timed(gradients, call, x, grad, alpha)
            if name == "torch.compile loop":  # it compiles again for every shape
                build_times[f"torch.compile: first call beyond a warm one, {label}"] = first - warm
            elif name == "numba":  # compiles once per D (for every shape)
                build_times.setdefault(f"numba: first call beyond a warm one, D={levels}", first - warm)
            checks.append({"shape": list(shape), "levels": levels, **check(name, got, want)})
        del want
    torch.set_num_threads(THREADS)  # starting numba's OpenMP pool can reset torch's count to numba's

    runs = {name: fresh(call, x, alpha, grad) for name, call in candidates.items()}
    runs["C++ extension, reused buffers"] = reused(kernels["cpp"], x, alpha, grad, levels)
    runs["numba, reused buffers"] = reused(kernels["numba"], x, alpha, grad, levels)
    runs[TORCH_KERNEL] = fresh(cfsnn_neuron(levels, timesteps, "torch"), x, alpha, grad)
    runs["cfsnn backend=numba (landed)"] = fresh(cfsnn_neuron(levels, timesteps, "numba"), x, alpha, grad)
    sj = spikingjelly_lif(torch.device("cpu"))
    if sj is not None:
        runs["SpikingJelly LIFNode (D=1, unipolar)"] = fresh(lambda x_, a_: sj(x_), x, alpha, grad)
    with console.status(f"timing {label}"):
        bandwidth = copy_bandwidth(4 * x.numel())  # at the size the kernels stream (see common.copy_bandwidth)
        timing = interleaved_timing(runs, repeats)
    rows = [
        {
            "shape": list(shape),
            "levels": levels,
            "candidate": name,
            "seconds": seconds,
            "fastest_seconds": timing.fastest[name],
            "timing": timing.describe(),
            "copy_bandwidth_bytes_per_second": bandwidth,
            "bandwidth_bound_seconds": BYTES_PER_ELEMENT * x.numel() / bandwidth,
        }
        for name, seconds in timing.medians.items()
    ]
    return rows, checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9, help="interleaved rounds (median taken)")
    parser.add_argument("--shape", type=int, nargs=5, action="append", help="[T, B, C, H, W] (default: both)")
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument(
        "--numba-512",
        action="store_true",
        help="let numba's LLVM use 512-bit vectors as GCC does (it prefers 256 on this CPU); this also recompiles "
        "cfsnn's numba kernel so, and needs numba not imported before",
    )
    args = parser.parse_args()
    if args.numba_512:
        from llvmlite import binding

        os.environ["NUMBA_CPU_FEATURES"] = binding.get_host_cpu_features().flatten() + ",-prefer-256-bit"
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    console = Console(width=None if Console().is_terminal else 150)

    build_times = {}
    with console.status("building the C++ extension"):
        cpp, build_times["C++ extension: load_inline, cold build"] = timed(build_cpp)
    with console.status("importing numba"):
        numba_kernel, build_times["numba: import and kernel definitions"] = timed(build_numba)

    rows, checks = [], []
    for shape in [tuple(s) for s in args.shape] if args.shape else SHAPES:
        for levels in LEVELS:
            group_rows, group_checks = measure_group(
                shape, levels, {"cpp": cpp, "numba": numba_kernel}, args.repeats, console, build_times
            )
            rows += group_rows
            checks += group_checks
    render(console, rows, checks, build_times)
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump(
                {
                    "machine": machine_description(),
                    "numba_512_bit_vectors": args.numba_512,
                    "build_seconds": build_times,
                    "checks": checks,
                    "rows": rows,
                },
                handle,
                indent=2,
            )


def render(console, rows, checks, build_times):
    table = Table(title=f"CF neuron forward+backward, float32, {machine_description()}")
    columns = ("shape", "D", "candidate", "ms", "best ms", "× SpikingJelly", "× cfsnn torch", "× bandwidth bound")
    for column in columns:
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for row in rows:
        group = [r for r in rows if r["shape"] == row["shape"] and r["levels"] == row["levels"]]
        baseline = {r["candidate"]: r["seconds"] for r in group}
        sj = next((s for name, s in baseline.items() if name.startswith("SpikingJelly")), None)
        table.add_row(
            "×".join(map(str, row["shape"])),
            str(row["levels"]),
            row["candidate"],
            f"{row['seconds'] * 1e3:.1f}",
            f"{row['fastest_seconds'] * 1e3:.1f}",
            f"{sj / row['seconds']:.2f}" if sj else "-",
            f"{baseline[TORCH_KERNEL] / row['seconds']:.2f}",
            f"{row['seconds'] / row['bandwidth_bound_seconds']:.1f}",
            end_section=row is group[-1],
        )
    console.print(table)
    groups = {("×".join(map(str, r["shape"])), r["levels"]): r for r in rows}
    for (shape, levels), row in groups.items():
        console.print(
            f"{shape} D={levels}: {row['timing']}; copy bandwidth at this size "
            f"{row['copy_bandwidth_bytes_per_second'] / 1e9:.1f} GB/s"
        )
    console.print(
        "ms: the median; best ms: the fastest round. × SpikingJelly, × cfsnn torch: their median ÷ this row's "
        f"(above 1 = faster). × bandwidth bound: this row's median ÷ ({BYTES_PER_ELEMENT} B/element ÷ the copy "
        "bandwidth)."
    )
    verdicts = Table(title="checked against the autograd reference before timing")
    for column in ("shape", "D", "candidate", "spikes differing", "max |ΔdX| / max |dX|", "max |Δdα_t| / |dα_t|", "ok"):
        verdicts.add_column(column, justify="left" if column == "candidate" else "right")
    for c in checks:
        verdicts.add_row(
            "×".join(map(str, c["shape"])),
            str(c["levels"]),
            c["name"],
            str(c["spikes_differing"]),
            f"{c['dx_error']:.1e}",
            f"{c['dalpha_error']:.1e}",
            "yes" if c["ok"] else "NO",
        )
    console.print(verdicts)
    costs = Table(title="one-off costs")
    costs.add_column("what")
    costs.add_column("seconds", justify="right")
    for name, seconds in build_times.items():
        costs.add_row(name, f"{seconds:.2f}")
    console.print(costs)


if __name__ == "__main__":
    main()
