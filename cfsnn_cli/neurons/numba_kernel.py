"""The fused CPU kernel of the neuron family, compiled by numba: one pass over memory forward, one
reverse-time pass backward that reads the saved H (and N where it is needed) and evaluates every
crossing's surrogate slope where it is needed.

The same equations as `kernel.NeuronSequence` (docs/method.md, "Backward through time"), written
for arrays laid out as [T, M]: each time step one contiguous block of M neurons, whatever the
tensor's memory format. Neurons are taken in strips of `STRIP`; within a strip every loop is a
flat loop over neurons, so the compiler vectorises it even though D and the options are
run-time values (a loop over crossings inside the loop over neurons would not
vectorise). Strips are grouped into a fixed number of parallel work items. Sums over neurons are
taken per work item (dβ, dθ and the balance statistics in float64; dα_t pairwise over each strip
in the input's dtype, then in float64) and added afterwards, so they do not depend on the number
of threads.
"""

import numba
import numpy as np
from numba import prange

STRIP = 1024  # neurons per strip, a power of two: a strip's scratch rows stay in the L1/L2 cache
# At most BLOCKS parallel work items, each allocating its scratch once. A fixed count (not one
# per thread) keeps the float64 sums independent of the number of threads.
BLOCKS = 64

# per-work-item sums kept for backward, after the T per-step dα_t sums
THETA_SUM, BETA_SUM = 0, 1


@numba.njit(cache=True)
def block_count(size: int) -> int:
    """How many parallel work items `size` neurons per step are split into."""
    return max(1, min(BLOCKS, (size + STRIP - 1) // STRIP))


@numba.njit(inline="always")
def _count(h, threshold, levels, bipolar):
    """N = clamp(trunc(H/θ), −D, D) (bipolar) or clamp(floor(H/θ), 0, D): `FiringRule.count`.

    `levels` is D in H's dtype, so that N stays in that dtype too.
    """
    ratio = h / threshold
    if bipolar:
        return min(max(np.trunc(ratio), -levels), levels)
    return min(max(np.floor(ratio), levels - levels), levels)


@numba.njit(inline="always")
def _reset(h, n, threshold, hard_reset, v_reset):
    """V after firing: `FiringRule.reset`."""
    if hard_reset:
        return h - n * (h - v_reset)
    return h - threshold * n


@numba.njit(inline="always")
def _channels(first, n, inner, channels, out):
    """The channel of neurons first..first+n−1 of one step laid out as [outer, C, inner]."""
    for i in range(n):
        out[i] = ((first + i) // inner) % channels


@numba.njit(inline="always")
def _strip_starts(block, blocks, size):
    """The first neuron of each strip of work item `block` out of `blocks`."""
    strips = (size + STRIP - 1) // STRIP
    return range((block * strips // blocks) * STRIP, ((block + 1) * strips // blocks) * STRIP, STRIP)


@numba.njit(inline="always")
def _pairwise_sum(parts):
    """Σ parts, pairwise in the array's dtype, returned as float64; then parts = 0. len(parts) is a
    power of two. Halving in place keeps every loop a flat vectorisable one, and pairwise sums
    round less than a running one."""
    width = parts.size // 2
    while width >= 1:
        for i in range(width):
            parts[i] += parts[i + width]
        width //= 2
    total = np.float64(parts[0])
    for i in range(parts.size):
        parts[i] = 0.0
    return total


# The work of one strip at one step lives in its own (not inlined) function of 1-D rows: numba types
# a row of a C-contiguous array as contiguous, and LLVM vectorises its loops; indexing the 2-D arrays
# inside the parallel loop left them scalar.


@numba.njit(error_model="numpy", cache=True)
def _fire_step(x_t, h_t, n_t, v, beta, threshold, most, bipolar, hard_reset, v_reset):
    """H_t, N_t of one strip, and V_t into v. No fast-math: H = β·V + X rounds as torch's two
    operations do, so H and N are bit-identical to the other kernels'."""
    for i in range(x_t.size):
        h = v[i] * beta
        h = h + x_t[i]
        count = _count(h, threshold, most, bipolar)
        h_t[i] = h
        n_t[i] = count
        v[i] = _reset(h, count, threshold, hard_reset, v_reset)


@numba.njit(error_model="numpy", cache=True)
def _record_step(h_t, channel, positive, negative):
    """Σrelu(H) and Σrelu(−H) of one strip's step, added per channel."""
    for i in range(h_t.size):
        h = h_t[i]
        positive[channel[i]] += max(h, 0.0)
        negative[channel[i]] += max(-h, 0.0)


@numba.njit(parallel=True, error_model="numpy", cache=True)
def forward(x, potentials, spikes, scalars, levels, bipolar, hard_reset, record, inner, channels, positive, negative):
    """Fill potentials (H) and spikes (N) [T, M] from x [T, M].

    scalars = [β, θ, v_init, v_reset] in x's dtype. With `record`, positive/negative
    [block_count(M), C] receive each work item's Σrelu(H) and Σrelu(−H) per channel.
    """
    steps, size = x.shape
    beta, threshold, v_init, v_reset = scalars[0], scalars[1], scalars[2], scalars[3]
    most = x.dtype.type(levels)
    blocks = block_count(size)
    for block in prange(blocks):
        v = np.empty(STRIP, x.dtype)
        channel = np.empty(STRIP, np.int64)
        for first in _strip_starts(block, blocks, size):
            last = min(first + STRIP, size)
            v[:] = v_init
            if record:
                _channels(first, last - first, inner, channels, channel)
            for t in range(steps):
                _fire_step(
                    x[t, first:last], potentials[t, first:last], spikes[t, first:last], v,
                    beta, threshold, most, bipolar, hard_reset, v_reset,
                )  # fmt: skip
                if record:
                    _record_step(potentials[t, first:last], channel, positive[block], negative[block])


# "contract" and "arcp" let multiply-adds fuse and divisions become products: backward only computes
# gradients (it reads N, never recomputes it). No "nnan"/"ninf": a NaN reaches the gradient as it should.
BACKWARD_MATH = {"reassoc", "nsz", "contract", "arcp"}


def slope(z):
    """F'(z) of the layer's surrogate: bound, for each surrogate, where `_unfire_step` and `backward`
    are compiled for it (`numba_slopes.backward_for`)."""
    raise NotImplementedError("compiled per surrogate by numba_slopes.backward_for")


# how backward's two functions are compiled (numba_slopes.backward_for): they are plain functions
# here because each surrogate's F' is compiled into them
UNFIRE_STEP_OPTIONS = {"error_model": "numpy", "fastmath": BACKWARD_MATH}
BACKWARD_OPTIONS = {"parallel": True, "error_model": "numpy"}


def _unfire_step(
    h_t, n_t, g_t, h_before, n_before, dx_t,
    a, beta, threshold, v_init, v_reset, levels, bipolar, hard_reset, detach_reset,
    need_beta, need_threshold, need_alpha, first_step,
    grad_positive, grad_negative, channel,
    grad_v, grad_n, grad_h, alpha_parts, theta_totals, beta_totals,
):  # fmt: skip
    """dL/dX_t of one strip into dx_t, from dL/dN_t (g_t) and dL/dV_t (grad_v, updated to dL/dV_{t−1}).

    Adds this step's dθ and dβ terms per neuron into theta_totals/beta_totals and its dα_t terms into
    alpha_parts; h_before/n_before are H_{t−1}, N_{t−1} (unread at the first step). One pass before
    the crossings, one per crossing, one after in the usual case. The options pick among versions of
    a loop rather than branch inside it: every pass is one vectorisable loop that touches only the
    arrays its options need.
    """
    n = h_t.size
    dtype = h_t.dtype
    zero, one = dtype.type(0), dtype.type(1)
    # dL/dN_t: through the output spike, and through the reset V_t = H_t − N_t·R_t unless detached,
    # with R_t = θ (soft) or H_t − v_reset (hard)
    if detach_reset:
        for i in range(n):
            grad_n[i] = g_t[i]
            grad_h[i] = zero
    elif hard_reset:
        for i in range(n):
            grad_n[i] = g_t[i] - grad_v[i] * (h_t[i] - v_reset)
            grad_h[i] = zero
    else:
        for i in range(n):
            grad_n[i] = g_t[i] - grad_v[i] * threshold
            grad_h[i] = zero
    # each crossing u = ±H − kθ, z = α·u: dN/dH += α·F'(z), dN/dθ −= s·k·α·F'(z), dN/dα += s·u·F'(z)
    step = a * threshold
    for k in range(1, levels + 1):
        crossing = dtype.type(k) * step  # k·α·θ
        for sign in (1.0, -1.0):
            if sign < 0 and not bipolar:
                continue
            s = dtype.type(sign)
            # Three versions of one loop: the parameters' terms cost a load and a store per neuron
            # each, so only a learned θ (rare) brings its term, and α's only where α may be learned
            # (the θ version carries α's too rather than a fourth loop).
            alpha_weight = s / a
            theta_weight = -s * dtype.type(k) * a
            if need_threshold:
                for i in range(n):
                    z = s * (h_t[i] * a) - crossing
                    w = slope(z) * grad_n[i]  # dL/dN·F'(z)
                    grad_h[i] += w
                    alpha_parts[i] += alpha_weight * w * z
                    theta_totals[i] += theta_weight * w
            elif need_alpha:
                for i in range(n):
                    z = s * (h_t[i] * a) - crossing
                    w = slope(z) * grad_n[i]
                    grad_h[i] += w
                    alpha_parts[i] += alpha_weight * w * z
            else:
                for i in range(n):
                    grad_h[i] += slope(s * (h_t[i] * a) - crossing) * grad_n[i]
    if need_threshold and not hard_reset and not detach_reset:
        for i in range(n):
            theta_totals[i] -= grad_v[i] * n_t[i]  # θ's reset term −dL/dV_t·N_t, with dL/dV_t still
    # dL/dH_t = α·Σ(crossings) + the direct path H_t → V_t, which a hard reset closes where it fired
    if not hard_reset and grad_positive.size == 0 and not need_beta:
        # the usual case in one pass, N unread: dX_t = dL/dH_t, dL/dV_{t−1} = β·dL/dH_t
        for i in range(n):
            g_h = grad_h[i] * a + grad_v[i]
            dx_t[i] = g_h
            grad_v[i] = g_h * beta
        return
    if hard_reset:
        for i in range(n):
            grad_h[i] = grad_h[i] * a + grad_v[i] * (one - n_t[i])
    else:
        for i in range(n):
            grad_h[i] = grad_h[i] * a + grad_v[i]
    if grad_positive.size > 0:
        for i in range(n):
            if h_t[i] > 0:
                grad_h[i] += grad_positive[channel[i]]
            elif h_t[i] < 0:
                grad_h[i] -= grad_negative[channel[i]]
    if need_beta:
        # dH_t/dβ = V_{t−1}: from H_{t−1} and N_{t−1}, or v_init before the first step
        if first_step:
            for i in range(n):
                beta_totals[i] += grad_h[i] * v_init
        else:
            for i in range(n):
                beta_totals[i] += grad_h[i] * _reset(h_before[i], n_before[i], threshold, hard_reset, v_reset)
    for i in range(n):
        dx_t[i] = grad_h[i]
        grad_v[i] = grad_h[i] * beta


def backward(
    potentials,
    spikes,
    grad_spikes,
    grad_x,
    scalars,
    alpha,
    levels,
    bipolar,
    hard_reset,
    detach_reset,
    need_beta,
    need_threshold,
    need_alpha,
    grad_positive,
    grad_negative,
    inner,
    channels,
    sums,
):
    """Fill grad_x [T, M] = dL/dX from dL/dN, walking time backwards from the saved H and N.

    alpha has T entries or one; grad_positive/grad_negative are dL/dΣrelu(±H) per channel (empty
    when the statistics got no gradient). sums [block_count(M), T + 2] receives each work item's
    dα_t in columns 0..T−1 (or column 0 for one α), then dθ and dβ (offsets THETA_SUM, BETA_SUM
    from T).
    """
    steps, size = potentials.shape
    beta, threshold, v_init, v_reset = scalars[0], scalars[1], scalars[2], scalars[3]
    dtype = potentials.dtype
    blocks = block_count(size)
    for block in prange(blocks):
        grad_v = np.empty(STRIP, dtype)  # dL/dV_t
        grad_n = np.empty(STRIP, dtype)
        grad_h = np.empty(STRIP, dtype)
        channel = np.empty(STRIP, np.int64)
        # per-neuron accumulators of the parameter gradients, summed over neurons once per step
        # (dα_t) or per work item (dθ, dβ, in float64): a running sum over neurons in the loops
        # would keep them from vectorising
        alpha_parts = np.zeros(STRIP, dtype)
        theta_totals = np.zeros(STRIP)
        beta_totals = np.zeros(STRIP)
        for first in _strip_starts(block, blocks, size):
            last = min(first + STRIP, size)
            grad_v[:] = 0.0  # V_T feeds nothing
            if grad_positive.size > 0:
                _channels(first, last - first, inner, channels, channel)
            for t in range(steps - 1, -1, -1):
                before = max(t - 1, 0)
                a = alpha[t] if alpha.size > 1 else alpha[0]
                _unfire_step(
                    potentials[t, first:last], spikes[t, first:last], grad_spikes[t, first:last],
                    potentials[before, first:last], spikes[before, first:last], grad_x[t, first:last],
                    a, beta, threshold, v_init, v_reset, levels, bipolar, hard_reset, detach_reset,
                    need_beta, need_threshold, need_alpha, t == 0,
                    grad_positive, grad_negative, channel,
                    grad_v, grad_n, grad_h, alpha_parts, theta_totals, beta_totals,
                )  # fmt: skip
                if need_alpha:
                    column = t if alpha.size > 1 else 0
                    sums[block, column] += _pairwise_sum(alpha_parts)
        if need_threshold:
            sums[block, steps + THETA_SUM] += _pairwise_sum(theta_totals)
        if need_beta:
            sums[block, steps + BETA_SUM] += _pairwise_sum(beta_totals)
