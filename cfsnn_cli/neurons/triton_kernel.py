"""The fused neuron kernel in Triton: one pass over memory forward, one reverse-time pass backward,
each program a block of neurons walking all T steps with its membrane in registers.

The same equations as `kernel.NeuronSequence` and `numba_kernel` (docs/method.md, "Backward
through time"), on [T, M] rows (`layout.TimeMajorLayout`). The options are compile-time constants,
so each combination is its own specialised kernel with no branch per neuron. Forward rounds as the
torch kernel does: no fused multiply-adds (launched with `enable_fp_fusion=False`) and a correctly
rounded H/θ, so that H and N are the other kernels' bit for bit. Backward recomputes N from the
saved H rather than keeping it, and writes each program's sums of the parameters' gradients (dα_t,
dθ, dβ) to its own row of `sums`, which the caller adds up in a fixed order: no atomics, so the
gradients do not depend on scheduling.
"""

import triton
import triton.language as tl

# Constants the kernels read are tl.constexpr: Triton compiles no other global into a kernel.
# Columns of `sums` after the T per-step dα_t sums:
THETA_SUM, BETA_SUM = tl.constexpr(0), tl.constexpr(1)
# scalars[...]: the layer's constants, in the rows' dtype
BETA, THRESHOLD, V_INIT, V_RESET = tl.constexpr(0), tl.constexpr(1), tl.constexpr(2), tl.constexpr(3)


@triton.jit
def _count(h, threshold, LEVELS: tl.constexpr, BIPOLAR: tl.constexpr):
    """N = clamp(trunc(H/θ), −D, D) (bipolar) or clamp(floor(H/θ), 0, D): `FiringRule.count`."""
    if h.dtype == tl.float32:  # `/` may be an approximate division in float32; torch's is exact
        ratio = tl.math.div_rn(h, threshold)
    else:
        ratio = h / threshold
    if BIPOLAR:
        whole = tl.where(ratio >= 0, tl.floor(ratio), tl.ceil(ratio))
        return tl.minimum(tl.maximum(whole, -LEVELS), LEVELS)
    return tl.minimum(tl.maximum(tl.floor(ratio), 0), LEVELS)


@triton.jit
def _reset(h, n, threshold, v_reset, HARD_RESET: tl.constexpr):
    """V after firing: `FiringRule.reset`."""
    if HARD_RESET:
        return h - n * (h - v_reset)
    return h - threshold * n


@triton.jit
def forward(
    x_ptr, potentials_ptr, spikes_ptr, scalars_ptr, steps, size,
    LEVELS: tl.constexpr, BIPOLAR: tl.constexpr, HARD_RESET: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """potentials (H) and spikes (N) [T, M] from x [T, M]."""
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < size
    beta = tl.load(scalars_ptr + BETA)
    threshold = tl.load(scalars_ptr + THRESHOLD)
    v_reset = tl.load(scalars_ptr + V_RESET)
    v = tl.zeros((BLOCK,), beta.dtype) + tl.load(scalars_ptr + V_INIT)
    row = offsets.to(tl.int64)  # T·M may pass 2³¹
    for _ in range(steps):
        x = tl.load(x_ptr + row, mask=inside, other=0.0)
        h = v * beta + x
        n = _count(h, threshold, LEVELS, BIPOLAR)
        tl.store(potentials_ptr + row, h, mask=inside)
        tl.store(spikes_ptr + row, n, mask=inside)
        v = _reset(h, n, threshold, v_reset, HARD_RESET)
        row += size


def slope(z):
    """F′(z) of the layer's surrogate: bound per surrogate where `backward` is compiled for it
    (`triton_sequence.backward_kernel`)."""
    raise NotImplementedError("bound per surrogate by triton_sequence.backward_kernel")


@triton.jit
def backward(
    potentials_ptr, grad_spikes_ptr, grad_x_ptr, scalars_ptr, alpha_ptr,
    grad_positive_ptr, grad_negative_ptr, sums_ptr, steps, size, last_row,
    LEVELS: tl.constexpr, BIPOLAR: tl.constexpr, HARD_RESET: tl.constexpr, DETACH_RESET: tl.constexpr,
    NEED_BETA: tl.constexpr, NEED_THRESHOLD: tl.constexpr, NEED_ALPHA: tl.constexpr,
    ALPHA_PER_STEP: tl.constexpr, BALANCE: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """grad_x [T, M] = dL/dX from grad_spikes = dL/dN, walking time backwards from the saved H.

    grad_positive/grad_negative are dL/dΣrelu(±H) spread over one step's M neurons (read with
    BALANCE). sums [programs, T + 2] receives this program's dα_t in columns 0..T−1 (or column 0
    for one α), then dθ and dβ (offsets THETA_SUM, BETA_SUM from T).
    """
    program = tl.program_id(0)
    offsets = program * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < size
    beta = tl.load(scalars_ptr + BETA)
    threshold = tl.load(scalars_ptr + THRESHOLD)
    v_init = tl.load(scalars_ptr + V_INIT)
    v_reset = tl.load(scalars_ptr + V_RESET)
    zero = tl.zeros((BLOCK,), beta.dtype)
    grad_v = zero  # dL/dV_t; V_T feeds nothing
    theta_totals = zero
    beta_totals = zero
    alpha_total = zero  # one α for all steps: its terms summed over time, then over neurons
    sums_row = sums_ptr + program * (steps + 2)
    if BALANCE:
        grad_positive = tl.load(grad_positive_ptr + offsets, mask=inside, other=0.0)
        grad_negative = tl.load(grad_negative_ptr + offsets, mask=inside, other=0.0)
    row = offsets.to(tl.int64) + last_row  # the start of step T − 1
    for back in range(steps):
        t = steps - 1 - back
        h = tl.load(potentials_ptr + row, mask=inside, other=0.0)
        g = tl.load(grad_spikes_ptr + row, mask=inside, other=0.0)
        a = tl.load(alpha_ptr + t) if ALPHA_PER_STEP else tl.load(alpha_ptr)
        n = _count(h, threshold, LEVELS, BIPOLAR)
        # dL/dN_t: through the output spike, and through the reset V_t = H_t − N_t·R_t unless
        # detached, with R_t = θ (soft) or H_t − v_reset (hard)
        grad_n = g
        if not DETACH_RESET:
            if HARD_RESET:
                grad_n = g - grad_v * (h - v_reset)
            else:
                grad_n = g - grad_v * threshold
        # each crossing u = ±H − kθ, z = α·u: dN/dH += α·F′(z), dN/dθ −= s·k·α·F′(z), dN/dα += s·u·F′(z)
        through_crossings = zero
        alpha_terms = zero
        for k in tl.static_range(1, LEVELS + 1):
            for side in tl.static_range(2 if BIPOLAR else 1):
                s = 1.0 - 2.0 * side
                z = s * (h * a) - k * (a * threshold)
                w = slope(z) * grad_n
                through_crossings += w
                if NEED_ALPHA:
                    alpha_terms += (s / a) * w * z
                if NEED_THRESHOLD:
                    theta_totals += (-s * k * a) * w
        if NEED_THRESHOLD and not HARD_RESET and not DETACH_RESET:
            theta_totals -= grad_v * n  # θ's reset term −dL/dV_t·N_t
        # dL/dH_t = α·Σ(crossings) + the direct path H_t → V_t, which a hard reset closes where it fired
        if HARD_RESET:
            grad_h = through_crossings * a + grad_v * (1 - n)
        else:
            grad_h = through_crossings * a + grad_v
        if BALANCE:
            grad_h += tl.where(h > 0, grad_positive, 0.0) - tl.where(h < 0, grad_negative, 0.0)
        if NEED_BETA:
            # dH_t/dβ = V_{t−1}: from H_{t−1}, or v_init before the first step
            earlier = inside & (t > 0)
            h_before = tl.load(potentials_ptr + row - size, mask=earlier, other=0.0)
            v_before = _reset(h_before, _count(h_before, threshold, LEVELS, BIPOLAR), threshold, v_reset, HARD_RESET)
            beta_totals += grad_h * tl.where(t > 0, v_before, v_init)
        if NEED_ALPHA:
            if ALPHA_PER_STEP:
                tl.store(sums_row + t, tl.sum(tl.where(inside, alpha_terms, 0.0)).to(tl.float64))
            else:
                alpha_total += alpha_terms
        tl.store(grad_x_ptr + row, grad_h, mask=inside)
        grad_v = grad_h * beta
        row -= size
    if NEED_ALPHA and not ALPHA_PER_STEP:
        tl.store(sums_row, tl.sum(tl.where(inside, alpha_total, 0.0)).to(tl.float64))
    if NEED_THRESHOLD:
        tl.store(sums_row + steps + THETA_SUM, tl.sum(tl.where(inside, theta_totals, 0.0)).to(tl.float64))
    if NEED_BETA:
        tl.store(sums_row + steps + BETA_SUM, tl.sum(tl.where(inside, beta_totals, 0.0)).to(tl.float64))
