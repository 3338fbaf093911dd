"""Loaded by every Python process started with this folder on PYTHONPATH (tests/cli/network.py): the
suite's network guard for subprocesses. Any connection but a local UNIX socket, and any look-up of a
host name (the first step of a download), is written to the file $CFSNN_TEST_NETWORK_LOG and
refused, so a test sees it even where the program swallows the error."""

import errno
import os
import socket

_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo
LOCAL_HOSTS = (None, "", "localhost", "127.0.0.1", "::1")


def _refuse(what: str):
    with open(os.environ["CFSNN_TEST_NETWORK_LOG"], "a") as log:
        log.write(f"{what}\n")
    raise OSError(errno.ENETUNREACH, f"the test's network guard refused {what}")


def _guarded_connect(self, address):
    if self.family == socket.AF_UNIX:
        return _connect(self, address)
    _refuse(f"a connection to {address!r}")


def _guarded_getaddrinfo(host, *rest, **more):
    if host in LOCAL_HOSTS:
        return _getaddrinfo(host, *rest, **more)
    _refuse(f"a look-up of {host!r}")


def _guarded_connect_ex(self, address):
    try:
        _guarded_connect(self, address)
    except OSError as error:
        return error.errno
    return 0


if os.environ.get("CFSNN_TEST_NETWORK_LOG"):
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo
