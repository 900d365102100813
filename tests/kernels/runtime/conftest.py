"""Fixtures for the OpenCL runtime tests: a working device (skip with the reason when none builds)
and oclgrind (skip when it is not installed)."""
from __future__ import annotations

import os

import pytest

from kernels.errors import KernelError


@pytest.fixture(scope="session")
def cl_device():
    from kernels.runtime.device import select_device

    try:
        return select_device()
    except KernelError as exc:
        pytest.skip(f"no OpenCL device passes the image probe: {exc}")


@pytest.fixture(scope="session")
def oclgrind_icd():
    from kernels.runtime.oclgrind import find_oclgrind_icd

    icd = find_oclgrind_icd()
    if icd is None:
        pytest.skip("oclgrind is not installed (apt-get install oclgrind, or `make opencl` as root)")
    return icd


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
