"""The network guard for `cfsnn` run as a subprocess (the suite's own guard, in conftest.py, covers
only the test process)."""

import os
from pathlib import Path

GUARD = Path(__file__).parent / "no_network"


def guarded_environment(log: Path, **more: str) -> dict[str, str]:
    """The environment of a subprocess whose every attempt at a network connection is refused and
    written, one line each, to `log`."""
    path = os.pathsep.join(filter(None, [str(GUARD), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, "CFSNN_TEST_NETWORK_LOG": str(log), **more}


def connections_tried(log: Path) -> list[str]:
    """The addresses a guarded subprocess tried to reach."""
    return log.read_text().splitlines() if log.exists() else []
