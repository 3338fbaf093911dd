"""The Triton kernels compile for a real GPU (Hopper, sm_90) on this CPU machine: Triton's compiler
runs without a device. The interpreter, which the kernel tests use, runs the kernels' Python and
would not notice what only the compiler refuses (a global it may not read, a constexpr misuse)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_every_surrogate_and_option_compiles_to_ptx_without_fused_multiply_adds():
    environment = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    environment["PYTHONPATH"] = str(REPOSITORY)
    done = subprocess.run(
        [sys.executable, "-m", "tests.neurons.triton_ptx"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failure"] is None, report["failure"]
    assert report["compiled"] == 16  # 5 surrogates and 3 option sets, in float32 and float64
    assert not report["forward_fma"] and report["forward_div_rn"]
