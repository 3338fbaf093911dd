"""Compile the Triton kernels to PTX for a Hopper GPU, without one: Triton's whole compiler (its
front end, MLIR passes, LLVM and ptxas) runs on the CPU, so what the interpreter cannot see (a
global a kernel may not read, a construct only the compiler refuses) fails here.

Run as `python -m tests.neurons.triton_ptx` in a process where TRITON_INTERPRET is not set (under
the interpreter `triton.jit` makes nothing compilable); tests/neurons/test_triton_compiles.py does.
Prints one JSON line: the combinations compiled, and the first failure if any.
"""

import json
import math

from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, compile

from cfsnn_cli.neurons import triton_kernel
from cfsnn_cli.neurons.triton_sequence import backward_kernel
from cfsnn_cli.surrogates import SURROGATES, Surrogate
from cfsnn_cli.surrogates.elementwise import constant, exp_of_nonpositive

HOPPER = GPUTarget("cuda", 90, 32)
BACKWARD_FLAGS = ("DETACH_RESET", "NEED_BETA", "NEED_THRESHOLD", "NEED_ALPHA", "ALPHA_PER_STEP", "BALANCE")


class GaussianSurrogate(Surrogate):
    """A kind of the user's, F′ through `math` and `exp_of_nonpositive` (as in the property tests)."""

    @staticmethod
    def primitive(z):
        raise NotImplementedError

    @staticmethod
    def derivative(z):
        return constant(1 / math.sqrt(math.pi), z) * exp_of_nonpositive(-(z * z))


def _signature(pointers: tuple[str, ...], integers: tuple[str, ...], dtype: str, options: dict) -> dict:
    signature = {name: "*fp64" if name == "sums_ptr" else f"*{dtype}" for name in pointers}
    signature.update({name: "i64" if name == "last_row" else "i32" for name in integers})
    signature.update({name: "constexpr" for name in options})
    return signature


def compile_for_hopper(kernel, pointers, integers, dtype: str, options: dict) -> str:
    """The kernel's PTX, compiled as `triton_sequence` launches it (no fused multiply-adds)."""
    source = ASTSource(fn=kernel, signature=_signature(pointers, integers, dtype, options), constexprs=options)
    return compile(source, target=HOPPER, options={"enable_fp_fusion": False}).asm["ptx"]


USUAL = {"LEVELS": 1, "BIPOLAR": True, "HARD_RESET": False}
MULTI_LEVEL = {"LEVELS": 3, "BIPOLAR": False, "HARD_RESET": False}
HARD = {"LEVELS": 1, "BIPOLAR": False, "HARD_RESET": True}
ALL_ON = dict.fromkeys(BACKWARD_FLAGS, True)
ALL_OFF = dict.fromkeys(BACKWARD_FLAGS, False)
FORWARD_POINTERS = ("x_ptr", "potentials_ptr", "spikes_ptr", "scalars_ptr")
BACKWARD_POINTERS = (
    "potentials_ptr", "grad_spikes_ptr", "grad_x_ptr", "scalars_ptr", "alpha_ptr",
    "grad_positive_ptr", "grad_negative_ptr", "sums_ptr",
)  # fmt: skip


def combinations():
    """Every surrogate with every backward flag on, the flags all off, one α for all steps, D = 3
    and a hard reset: each option on and off at least once, in float32 and float64."""
    surrogates = [SURROGATES.get(kind) for kind in SURROGATES.kinds()] + [GaussianSurrogate]
    sigmoid, atan = SURROGATES.get("sigmoid"), SURROGATES.get("atan")
    for dtype in ("fp32", "fp64"):
        for surrogate in surrogates:
            yield dtype, surrogate, USUAL, ALL_ON
        yield dtype, sigmoid, MULTI_LEVEL, ALL_OFF
        yield dtype, sigmoid, MULTI_LEVEL, {**ALL_OFF, "NEED_ALPHA": True}
        yield dtype, atan, HARD, ALL_ON


def main() -> None:
    compiled = 0
    failure = None
    forward_ptx = {}
    for dtype, surrogate, firing, flags in combinations():
        try:
            forward_options = {**firing, "BLOCK": 1024}
            forward_ptx[dtype] = compile_for_hopper(
                triton_kernel.forward, FORWARD_POINTERS, ("steps", "size"), dtype, forward_options
            )
            backward = backward_kernel(surrogate.derivative)
            integers = ("steps", "size", "last_row")
            compile_for_hopper(backward, BACKWARD_POINTERS, integers, dtype, {**forward_options, **flags})
            compiled += 1
        except Exception as error:  # the first failure is the report
            failure = f"{dtype} {surrogate.__name__} {firing} {flags}: {type(error).__name__}: {error}"
            break
    fp32 = forward_ptx.get("fp32", "")
    # H = β·V + X as two roundings and H/θ correctly rounded: what makes H and N torch's bit for bit
    report = {
        "compiled": compiled,
        "failure": failure,
        "forward_fma": "fma" in fp32,
        "forward_div_rn": "div.rn" in fp32,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
