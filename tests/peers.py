"""Importing the peer libraries the tests compare against (SpikingJelly, NeuroBench, onnxruntime,
NIR, snnTorch). A developer without one skips those comparisons; CI must never skip them silently,
so there a missing peer is an import error that fails the run."""

import importlib
import os

import pytest


def peer(module: str):
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)
