"""Fixtures for kernel tests: a working OpenCL device (skip with the reason when none builds)."""
from __future__ import annotations

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
