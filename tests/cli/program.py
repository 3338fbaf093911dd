"""The installed `cfsnn` program run as a user runs it, and what its refusals look like."""

import os
import subprocess
import sys
from pathlib import Path

CFSNN = str(Path(sys.executable).parent / "cfsnn")
ENV = {**os.environ, "COLUMNS": "120", "OMP_NUM_THREADS": "2"}


def cfsnn(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CFSNN, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300, cwd=cwd)


def sets(*overrides: str) -> list[str]:
    return [arg for override in overrides for arg in ("--set", override)]


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cfsnn: error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]
