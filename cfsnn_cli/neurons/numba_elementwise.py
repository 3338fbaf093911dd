"""The fused kernel's versions of `surrogates.elementwise`, so that a surrogate's `derivative(z)`
compiles for one float of the kernel's dtype: numba calls these wherever compiled code calls the
torch-facing functions of that module. Each keeps z's precision and vectorises."""

import math

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic, overload

from cfsnn_cli.surrogates import elementwise


@overload(elementwise.constant)
def _constant(value, like):
    as_like = like  # a numba float type, which casts when called
    return lambda value, like: as_like(value)


@overload(elementwise.step)
def _step(x):
    one, zero = x(1), x(0)
    return lambda x: one if x > 0 else zero


@overload(elementwise.positive_part)
def _positive_part(x):
    zero = x(0)
    return lambda x: max(x, zero)


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE bits are the int32 `bits` (a bit cast, which vectorises)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return numba.types.float32(numba.types.int32), codegen


@overload(elementwise.exp_of_nonpositive)
def _exp_of_nonpositive(x):
    if x == numba.float64:
        # float64 is the precise path (the tests' gradients): the library's exp, not vectorised
        return lambda x: math.exp(x)

    # float32: math.exp does not vectorise here (no SVML), so e^x is built from vectorisable parts:
    # x = k·ln2 + r with |r| <= ln2/2, e^r by a degree-7 Taylor polynomial (error < 1 ulp), and 2^k
    # by writing k + 127 into a float's exponent bits. k = round(x/ln2) is taken as −trunc(1/2 − x/ln2):
    # a float→int conversion vectorises, floor does not.
    def fast(x):
        x = max(x, np.float32(-87.0))
        k = np.int32(np.float32(0.5) - x * np.float32(1.4426950408889634))
        kf = -np.float32(k)
        r = x - kf * np.float32(0.693145751953125) - kf * np.float32(1.428606765330187e-06)
        p = np.float32(1.0 / 5040.0)
        p = p * r + np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        p = p * r + np.float32(1.0)
        p = p * r + np.float32(1.0)
        return p * _float32_from_bits((np.int32(127) - k) << np.int32(23))

    return fast


@overload(elementwise.sigmoid)
def _sigmoid(x):
    one = x(1)

    def stable(x):  # e^−|x| cannot overflow, whichever side of 0 x is on
        e = elementwise.exp_of_nonpositive(-abs(x))
        return one / (one + e) if x >= 0 else e / (one + e)

    return stable
