"""The Triton kernel's versions of `surrogates.elementwise`, and a surrogate's F′ rebound onto them.

A surrogate's `derivative(z)` is one Python function; the Triton kernel compiles it as it is, with
the names it calls (`constant`, `sigmoid`, …, and `abs`) bound to the functions here instead of the
torch ones, as numba does with its overloads (`numba_elementwise.py`). Each keeps z's dtype.
"""

import builtins
import functools
import math
import types
from collections.abc import Callable

import triton
import triton.language as tl

from cfsnn_cli.surrogates import elementwise


@triton.jit
def constant(value, like):
    return tl.full(like.shape, value, like.dtype)


@triton.jit
def exp_of_nonpositive(x):
    return tl.exp(x)


@triton.jit
def sigmoid(x):
    e = tl.exp(-tl.abs(x))  # e^−|x| cannot overflow, whichever side of 0 x is on
    return tl.where(x >= 0, 1 / (1 + e), e / (1 + e))


@triton.jit
def step(x):
    return tl.where(x > 0, 1.0, 0.0).to(x.dtype)


@triton.jit
def positive_part(x):
    return tl.maximum(x, 0.0)


@triton.jit
def absolute(x):
    return tl.abs(x)


_TRITON_VERSIONS = {
    elementwise.constant: constant,
    elementwise.exp_of_nonpositive: exp_of_nonpositive,
    elementwise.sigmoid: sigmoid,
    elementwise.step: step,
    elementwise.positive_part: positive_part,
}
# what F′ reads as the module `elementwise` (for an F′ that writes `elementwise.sigmoid(z)`)
# (a module: Triton compiles no other kind of global object into a kernel)
_AS_MODULE = types.ModuleType("cfsnn_cli.neurons.triton_elementwise.as_elementwise")
for _function, _version in _TRITON_VERSIONS.items():
    setattr(_AS_MODULE, _function.__name__, _version)


def slope_fits_triton(derivative: Callable) -> bool:
    """Whether `derivative` reads only what `triton_slope` binds: arithmetic, `abs`, the elementwise
    functions (by name or through their module), `math`'s constants and plain numbers. An F′ that
    calls torch (or another builtin) does not, and runs on the `torch` backend."""
    for name in derivative.__code__.co_names:  # the globals it reads, and the attributes it takes
        if name == "abs":
            continue
        if name not in derivative.__globals__:
            if hasattr(builtins, name):
                return False
            continue  # an attribute's name (the pi of math.pi)
        value = derivative.__globals__[name]
        if value is elementwise or value is math or isinstance(value, (int, float)):
            continue
        if not (isinstance(value, types.FunctionType) and value in _TRITON_VERSIONS):
            return False
    return True


@functools.cache
def triton_slope(derivative: Callable):
    """`derivative` as a Triton function: its own code, its elementwise calls and `abs` bound to
    this module's versions."""
    namespace = dict(derivative.__globals__)
    for name, value in derivative.__globals__.items():
        if value is elementwise:
            namespace[name] = _AS_MODULE
        elif isinstance(value, types.FunctionType) and value in _TRITON_VERSIONS:
            namespace[name] = _TRITON_VERSIONS[value]
    namespace["abs"] = absolute  # Triton's tensors have no __abs__
    namespace["tl"] = tl  # what Triton's interpreter looks for in a function it runs
    rebound = types.FunctionType(derivative.__code__, namespace, derivative.__name__)
    rebound.__qualname__ = derivative.__qualname__
    return triton.jit(rebound)
