"""The fused backward kernel compiled for one surrogate's F′: the surrogate's own `derivative`,
the very function the `torch` backend and the reference run, compiled into `numba_kernel`'s
crossing loops, so that no formula is written twice and a new surrogate kind runs fused as soon
as it is defined.

Each compiled kernel is cached on disk like numba's own, under a key that also holds a digest of
the F′ it was compiled with and of the elementwise functions F′ may call: numba alone keys a
cache on the kernel's file, and would go on running an edited surrogate's old F′.
"""

import functools
import hashlib
import inspect
import types
from collections.abc import Callable

import numba
import torch
from numba.core.caching import FunctionCache
from numba.core.errors import NumbaError

from cfsnn_cli.neurons import numba_elementwise, numba_kernel
from cfsnn_cli.surrogates import elementwise


class _CacheKeyedOnSlope(FunctionCache):
    """numba's on-disk cache of one function, its entries also keyed on `digest`."""

    def __init__(self, py_func, digest: str):
        super().__init__(py_func)
        self.digest = digest

    def _index_key(self, sig, codegen):
        return (*super()._index_key(sig, codegen), self.digest)


def _slope_digest(derivative: Callable) -> str | None:
    """A digest of `derivative`'s source and of the elementwise functions it may call; None where
    its source cannot be read (a function typed into a notebook's exec), which is then compiled
    afresh in each process rather than risk a cache entry of another F′."""
    try:
        sources = [inspect.getsource(derivative), inspect.getsource(elementwise), inspect.getsource(numba_elementwise)]
    except (OSError, TypeError):
        return None
    return hashlib.sha256("\n".join(sources).encode()).hexdigest()


def _compiled(function: Callable, namespace: dict, options: dict, digest: str | None):
    """`function` of numba_kernel compiled with its globals taken from `namespace`."""
    rebound = types.FunctionType(function.__code__, namespace, function.__name__)
    rebound.__qualname__, rebound.__doc__ = function.__qualname__, function.__doc__
    dispatcher = numba.njit(**options)(rebound)
    if digest is not None:
        dispatcher._cache = _CacheKeyedOnSlope(rebound, digest)
    return dispatcher


@functools.cache
def backward_for(derivative: Callable):
    """`numba_kernel.backward` with `derivative` as its F′ (compiled on its first call, or read
    from the cache)."""
    digest = _slope_digest(derivative)
    namespace = dict(vars(numba_kernel))
    namespace["slope"] = numba.njit(inline="always")(derivative)
    namespace["_unfire_step"] = _compiled(
        numba_kernel._unfire_step, namespace, numba_kernel.UNFIRE_STEP_OPTIONS, digest
    )
    return _compiled(numba_kernel.backward, namespace, numba_kernel.BACKWARD_OPTIONS, digest)


# torch.compile must not trace into numba's compiler (nor past the cache): on the CPU, where this is
# asked, the fused kernel that follows breaks the graph anyway
@torch.compiler.disable
@functools.cache
def slope_compiles(derivative: Callable, dtype: str) -> bool:
    """Whether `derivative` compiles for one float of `dtype` ("float32" or "float64"): written
    with arithmetic, `abs` and `surrogates.elementwise` it does; one that calls torch does not,
    and runs on the `torch` backend."""
    try:
        numba.njit(derivative).compile((getattr(numba, dtype),))
    except NumbaError:
        return False
    return True
