"""Fixtures for kernel tests: a working OpenCL device (skip with the reason when none builds)."""
from __future__ import annotations

import pytest

from smartmem_sim.kernels.errors import KernelError


@pytest.fixture(scope="session")
def cl_device():
    from smartmem_sim.kernels.runtime.device import select_device

    try:
        return select_device()
    except KernelError as exc:
        pytest.skip(f"no OpenCL device passes the image probe: {exc}")


@pytest.fixture(scope="session")
def oclgrind_icd():
    from smartmem_sim.kernels.runtime.oclgrind import find_oclgrind_icd

    icd = find_oclgrind_icd()
    if icd is None:
        pytest.skip("oclgrind is not installed (apt-get install oclgrind, or `make opencl` as root)")
    return icd


EXHAUSTIVE_HELP = ("exhaustive: every tiny twin x policy (or every distinct kernel); tens of minutes on 2 cores, "
                   "so skipped unless selected with -m exhaustive")


def pytest_configure(config):
    config.addinivalue_line("markers", EXHAUSTIVE_HELP)


def pytest_collection_modifyitems(config, items):
    if "exhaustive" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="exhaustive case: run with -m exhaustive")
    for item in items:
        if "exhaustive" in item.keywords:
            item.add_marker(skip)
