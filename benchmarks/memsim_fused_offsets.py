"""Where the fused two-level passes (_fused_*) land in serial_lines_run's machine code, this tree's and the
baseline's (issue 19): their offset mod 64 in the compiled library, for int32 and int64 addresses. The same
machine code ran 6-9% slower at another offset mod 64 on the project's VM, so after an edit of
serial_lines_run, _column_checks or _fused_chunk compare these with the baseline's. Compiles afresh into a
temporary numba cache (inspecting cached code is not possible).

    NUMBA_CACHE_DIR=$(mktemp -d) .venv/bin/python benchmarks/memsim_fused_offsets.py .cache/benchbase
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_memsim as B  # noqa: E402
import bench_memsim_ab_inprocess as AB  # noqa: E402


def main() -> int:
    new, base = AB.load_pair(Path(sys.argv[1]))
    import memsim._kernels_lines as BL

    from smartmem_sim.memsim import _kernels_lines as NL
    addrs = np.random.default_rng(0).integers(0, (64 << 20) // B.TEXEL, 4000) * B.TEXEL
    for name, m, mod in (("new", new, NL), ("base", base, BL)):
        h = m.Hierarchy([m.CacheLevel(**B.L1), m.CacheLevel(**B.L2)], cores=1)
        for dt in (np.int32, np.int64):
            h.simulate_resolved(addrs.astype(dt), 0, False, B.TEXEL)
        for sig, cres in mod.serial_lines_run.overloads.items():
            dt = sig[1].types[0].dtype if name == "new" else sig[9].dtype
            lib = cres.library
            if lib._final_module is None:
                raise SystemExit("loaded from numba's cache: set NUMBA_CACHE_DIR to an empty folder")
            with tempfile.NamedTemporaryFile(suffix=".o") as f:
                f.write(lib._codegen._tm.emit_object(lib._final_module))
                f.flush()
                syms = subprocess.run(["nm", "-n", f.name], capture_output=True, text=True).stdout.splitlines()
            for line in syms:
                for fused in ("10_fused_4_8", "11_fused_4_16", "11_fused_8_16", "12_fused_16_16"):
                    if fused in line and line.split()[1] in "TW":
                        print(f"{name:4s} {dt}  {fused[2:]:13s} offset mod 64: {int(line.split()[0], 16) % 64}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
