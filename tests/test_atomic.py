"""Atomic writes: whole or nothing, and durable (fsynced) unless the caller rebuilds what it writes."""

import os

import pytest

from cfsnn_cli import atomic
from cfsnn_cli.atomic import atomic_write_bytes


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda descriptor: (calls.append(descriptor), real_fsync(descriptor)))
    return calls


def test_a_durable_write_fsyncs_the_file_and_its_folder(tmp_path, fsyncs):
    atomic_write_bytes(tmp_path / "model.safetensors", b"weights")
    assert (tmp_path / "model.safetensors").read_bytes() == b"weights" and len(fsyncs) == 2


def test_a_cache_write_is_whole_but_not_fsynced(tmp_path, fsyncs):
    atomic_write_bytes(tmp_path / "frame.npy", b"frames", durable=False)
    assert (tmp_path / "frame.npy").read_bytes() == b"frames" and fsyncs == []
    assert [p.name for p in tmp_path.iterdir()] == ["frame.npy"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    (tmp_path / "metrics.jsonl").write_bytes(b"old")

    def refuse(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    for durable in (True, False):
        with pytest.raises(OSError):
            atomic_write_bytes(tmp_path / "metrics.jsonl", b"new", durable=durable)
    assert (tmp_path / "metrics.jsonl").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
