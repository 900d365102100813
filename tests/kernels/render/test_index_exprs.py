"""OpenCL C printing: the printed index code, compiled by a C compiler, computes the same values as
the expressions (numpy); numerators that may be negative keep floor semantics; values past the index type
are refused."""
import shutil
import subprocess

import numpy as np
import pytest

from smartmem_sim.kernels.errors import KernelError
from smartmem_sim.kernels.render.index_exprs import opencl_assignments, opencl_tables, to_opencl
from smartmem_sim.layout.expr import Lookup, Var, evaluate
from smartmem_sim.layout.image import nc4hw4
from smartmem_sim.layout.ops import Chain, DepthToSpace, Gather, Reshape, Transpose

i, j, k = Var("i", 2), Var("j", 256), Var("k", 4)


def test_worked_example_prints_as_c_with_slash_for_division():
    fwd = Chain((2, 256, 4), [Reshape((16, 8, 4, 4)), Transpose((0, 2, 1, 3))]).forward(("i", "j", "k"))
    assert [to_opencl(e) for e in fwd.exprs] == ["i*8 + j/32", "j%4", "(j%32)/4", "k"]
    assert opencl_assignments(["a", "b"], fwd.exprs[:2]) == "const int a = i*8 + j/32;\nconst int b = j%4;"


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to check the printed code")
def test_negative_numerators_keep_floor_semantics_in_c(tmp_path):
    exprs = [(j - 100) // 4, (j - 100) % 4, (i * 3 - j) // 7, (i * 3 - j) % 7]
    assert all("%" in to_opencl(e) and " + " in to_opencl(e) for e in exprs)
    assert to_opencl(j // 4) == "j/4"  # a non-negative numerator prints plainly
    names = [f"e{n}" for n in range(len(exprs))]
    prints = " ".join(f'printf("%d ", {n});' for n in names)
    source = f"""#include <stdio.h>
int main(void) {{ for (int i = 0; i < 2; ++i) for (int j = 0; j < 256; ++j) {{
{opencl_assignments(names, exprs)}
{prints} printf("\\n"); }} return 0; }}
"""
    (tmp_path / "k.c").write_text(source)
    subprocess.run(["cc", "-O0", "-o", str(tmp_path / "k"), str(tmp_path / "k.c")], check=True, capture_output=True)
    got = np.array([[int(v) for v in line.split()] for line in
                    subprocess.run([str(tmp_path / "k")], capture_output=True, text=True, check=True).stdout.splitlines()])
    ii, jj = (a.ravel() for a in np.meshgrid(np.arange(2), np.arange(256), indexing="ij"))
    want = np.stack([evaluate(e, {"i": ii, "j": jj}) for e in exprs], axis=1)
    assert np.array_equal(got, want)


def test_overflow_is_refused():
    with pytest.raises(KernelError, match="index_type='long'"):
        to_opencl(Var("n", 2**20) * 2**12)
    assert to_opencl(Var("n", 2**20) * 2**12, index_type="long") == "n*4096"
    with pytest.raises(KernelError, match="not one of"):
        to_opencl(j, index_type="short")


def test_tables_are_declared_once_by_name():
    a = Lookup([2, 0, 1], k % 3, "perm")
    assert opencl_tables([a, a + 1]) == "__constant int perm[3] = {2, 0, 1};"
    with pytest.raises(KernelError, match="two different tables"):
        opencl_tables([a, Lookup([1, 1, 1, 2], k, "perm")])


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to check the printed code")
def test_printed_code_compiled_by_a_c_compiler_matches_numpy(tmp_path):
    shape = (1, 8, 3, 2)
    chain = Chain(shape, [DepthToSpace(2, "CRD"), Reshape((1, 2, 24)), Transpose((0, 2, 1)),
                          Gather(np.array([5, 1, 7, 2, 0]), 1, table_name="rows")])
    inv = chain.inverse(("o0", "o1", "o2"))
    layout = nc4hw4(shape)
    exprs = list(inv.exprs) + list(layout.address_of(inv))
    names = [f"e{n}" for n in range(len(exprs))]
    loops = "".join(f"for (int {v.name} = 0; {v.name} < {v.extent}; ++{v.name}) " for v in inv.variables)
    prints = " ".join(f'printf("%d ", {n});' for n in names)
    source = f"""#include <stdio.h>
#define __constant static const
{opencl_tables(exprs)}
int main(void) {{ {loops}{{
{opencl_assignments(names, exprs)}
{prints} printf("\\n"); }} return 0; }}
"""
    (tmp_path / "k.c").write_text(source)
    subprocess.run(["cc", "-O0", "-o", str(tmp_path / "k"), str(tmp_path / "k.c")], check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "k")], check=True, capture_output=True, text=True).stdout
    got = np.array([[int(t) for t in line.split()] for line in out.splitlines()])
    grid = np.indices(inv.src_shape).reshape(len(inv.variables), -1)
    env = {v.name: grid[d] for d, v in enumerate(inv.variables)}
    ref = np.stack([np.broadcast_to(evaluate(e, env), grid[0].shape) for e in exprs], axis=1)
    assert np.array_equal(got, ref)
