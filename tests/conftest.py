"""Suite-wide guards: nothing may reach the network, and CPU threads stay few on a 2-core box."""

import socket

import pytest
import torch

torch.set_num_threads(2)


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
