"""Fixtures for the OpenCL runtime tests. The device and oclgrind fixtures (cl_device, oclgrind_icd) come
from tests/kernels/conftest.py, which pytest applies to this folder too."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def child_env():
    """Build the environment of a child Python that imports this repo's packages."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

    def make(**extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update(extra)
        return env

    return make
