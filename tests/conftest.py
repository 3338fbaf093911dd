"""Suite-wide guards: nothing may reach the network, and CPU threads stay few on a 2-core box.
Also the property-test profiles: HYPOTHESIS_PROFILE=thorough draws twenty times as many examples."""

import os
import socket

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(2)

# Without a GPU the Triton kernel runs through Triton's interpreter on CPU tensors, so that every
# kernel test covers it; triton reads this when first imported, which nothing has done yet
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

settings.register_profile("default", max_examples=150, deadline=None)
# CI derandomizes, so that a run's verdict depends on the commit alone
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


@pytest.fixture(autouse=True, scope="session")
def frame_cache_of_its_own(tmp_path_factory):
    """The frames eval and profile-spikes cache where this machine caches by default
    ($XDG_CACHE_HOME): a folder of the suite's own, never the user's home."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test (local UNIX sockets stay allowed)."""
    original_connect = socket.socket.connect

    def guarded_connect(self, address):
        if self.family == socket.AF_UNIX:
            return original_connect(self, address)
        raise NetworkBlocked(f"a test tried to reach the network: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: guarded_connect(socket.socket(), address))


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run only where torch sees a CUDA device; the suite passes without one."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
