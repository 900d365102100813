"""Registering every subcommand (what `smartmem --help` does) imports none of the heavy libraries: the parser
must come up without numba, onnx, pyopencl, matplotlib or the simulator (the package issue's --help < 0.5 s;
benchmarks/bench_cli_help.py measures it)."""
import subprocess
import sys

HEAVY = ("numba", "onnx", "pyopencl", "matplotlib", "onnxruntime", "smartmem_sim.memsim.hierarchy",
         "smartmem_sim.compiler.costs")


def test_building_the_parser_imports_nothing_heavy():
    code = ("import sys; from smartmem_sim.cli import build_parser; build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported while registering the subcommands: {out}"
