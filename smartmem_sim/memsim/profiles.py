"""Device profiles: one TOML file per device under smartmem_sim/memsim/devices/, keys = the constructors' arguments.

Layout of a profile (every number carries a source; a source starting with "guess" marks a guess)::

    name = "adreno740"
    description = "..."
    cores = 12                  # copies of every per-core level
    clock_hz = 680e6            # core clock, for the timing estimate
    memory_parallelism = 64     # requests in flight device-wide (smartmem_sim/memsim/timing.py)
    [source]                    # one string per number above
    cores = "..."
    [image_layout]              # memsim.surfaces.ImageLayout arguments
    kind = "tiled"
    [image_layout.source]
    [[levels]]                  # memsim.cache.CacheLevel arguments, from the core outwards
    name = "L1"
    [levels.source]             # one string per key of this level except name
    [dram]                      # memsim.timing.DramSpec arguments
    [dram.source]
    [occupancy]                 # memsim.timing.Occupancy arguments (optional: without it, in-flight
    [occupancy.source]          # requests are memory_parallelism alone and there is no issue limit)
    [execution]                 # memsim.execution.Execution arguments: wave_size, alu_lanes,
    [execution.source]          # launch_overhead_s, texel_reuse (optional, see below)
    [correction]                # optional: a learned factor per operator kind on the formula's step
    [correction.kinds]          # time, applied by the cost models (smartmem_sim/memsim/correction.py)
    [correction.source]

The loader rejects (naming the file and the field) a file that is not UTF-8 TOML, unknown keys, duplicate
keys, a number without a source, a source for a key that is not there, bad values, and sizes past
``BOUNDS`` (the simulator allocates state per cache line and per core, so an absurd size would exhaust
memory instead of failing with the field named).

This file is the one home of every number of a device. memsim's caches use all but ``[execution]``; the
cost models of smartmem_sim/compiler/costs/ (which price kernels) also read ``[execution]``: how kernels
issue (wave_size), how fast they compute (alu_lanes), what a launch costs (launch_overhead_s) and whether
the kernels keep texels in registers (texel_reuse; smartmem_sim/memsim/execution.py says what each
means). The table is optional so that a cache-only profile loads for memsim alone; a cost model on such a
profile raises a MemsimError naming the file and the table to add (``DeviceProfile.require_execution``).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from smartmem_sim.memsim.cache import CacheLevel
from smartmem_sim.memsim.correction import Correction
from smartmem_sim.memsim.errors import MemsimError
from smartmem_sim.memsim.execution import Execution
from smartmem_sim.memsim.hierarchy import Hierarchy
from smartmem_sim.memsim.surfaces import ImageLayout
from smartmem_sim.memsim.timing import DramSpec, Occupancy

DEVICES_DIR = Path(__file__).parent / "devices"
TOP_KEYS = ("name", "description", "cores", "clock_hz", "memory_parallelism")
TOP_NUMBERS = ("cores", "clock_hz", "memory_parallelism")
TABLES = ("source", "image_layout", "levels", "dram", "occupancy", "execution", "correction")

# Upper bounds on a profile's sizes. Far above every real GPU, they only stop a typo (or a fuzzer) from making
# the simulator allocate its per-line and per-core state arrays for sizes no device has.
BOUNDS = {
    # cores: the largest GPUs have a few hundred compute units (H100: 132 SMs; MI300X: 304 CUs)
    "cores": 4096,
    # bytes of one cache level (one copy): the largest GPU caches are tens of MiB (H100 L2: 50 MiB)
    "levels.size": 1 << 30,
    # bytes of one cache line: GPUs use 32-128 B, CPUs 64 B; 64 KiB is far past any
    "levels.line": 1 << 16,
    # cache lines the simulator keeps state for, over all levels and their per-core copies (8 B of state per
    # line and way, so 2^26 lines is 512 MiB): H100's 132 x 256 KiB L1s and 50 MiB L2 at 128 B are 6.5e5
    "total_lines": 1 << 26,
    # texels of an image-layout tile, and bytes of its pitch alignment and GOB width: hardware tiles are
    # 4-64 texels on a side and alignments a few KiB at most
    "image_layout.tile": 1 << 16,
    "image_layout.bytes": 1 << 20,
}


@dataclass(frozen=True)
class DeviceProfile:
    """A device: cores, clock, image layout, cache levels, DRAM, and where every number comes from.

    ``sources`` maps a field path ("cores", "image_layout.kind", "levels.L1.size", "dram.latency_cycles")
    to its source string.
    """

    name: str
    description: str
    cores: int
    clock_hz: float
    memory_parallelism: float
    image_layout: ImageLayout
    levels: list[CacheLevel]
    dram: DramSpec
    sources: dict[str, str] = field(default_factory=dict)
    path: str = ""
    occupancy: Occupancy | None = None  # None: the pre-occupancy timing (smartmem_sim/memsim/timing.py)
    execution: Execution | None = None  # None: caches only; the cost models need it (require_execution)
    correction: Correction | None = None  # None: the timing formula alone (smartmem_sim/memsim/correction.py)

    def require_execution(self) -> Execution:
        """The ``[execution]`` table, or a MemsimError naming the file and what to add (the cost models,
        smartmem_sim/compiler/costs/, need it to price kernels)."""
        if self.execution is None:
            raise MemsimError(f"{self.path or self.name}: profile '{self.name}' has no [execution] table, which "
                              "a cost model needs to price kernels; add [execution] with wave_size, alu_lanes and "
                              "launch_overhead_s (texel_reuse optional), each with a source in [execution.source] "
                              "(smartmem_sim/memsim/execution.py)")
        return self.execution

    def with_execution(self, execution: Execution, sources: dict[str, str]) -> DeviceProfile:
        """This profile with another ``[execution]`` table; ``sources``: its sources, keyed "execution.KEY"."""
        kept = {k: v for k, v in self.sources.items() if not k.startswith("execution.")}
        return replace(self, execution=execution, sources=kept | dict(sources))

    def guesses(self) -> list[str]:
        """Field paths whose source is marked as a guess."""
        return [k for k, v in self.sources.items() if v.strip().lower().startswith("guess")]

    def hierarchy(self) -> Hierarchy:
        return Hierarchy(self.levels, cores=self.cores, dram=self.dram, clock_hz=self.clock_hz,
                         memory_parallelism=self.memory_parallelism, name=self.name)


def list_profiles() -> list[str]:
    """Names of the shipped profiles (smartmem_sim/memsim/devices/*.toml)."""
    return sorted(p.stem for p in DEVICES_DIR.glob("*.toml"))


def profile_path(name_or_path: str | Path) -> Path:
    """A shipped profile's name, or a path to a .toml file."""
    if not isinstance(name_or_path, str | Path) or not str(name_or_path):
        raise MemsimError(f"a device profile is a shipped profile's name or a .toml file, got {name_or_path!r}")
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.parent != Path("."):
        if not _is_file(p):
            raise MemsimError(f"profile file {p} does not exist")
        return p
    shipped = DEVICES_DIR / f"{name_or_path}.toml"
    if not _is_file(shipped):
        raise MemsimError(f"unknown device profile {str(name_or_path)!r}; shipped: {', '.join(list_profiles())} "
                          "(or give a path to a .toml file)")
    return shipped


def _is_file(p: Path) -> bool:
    """Path.is_file, with a name the OS refuses (too long, NUL byte) counting as no file."""
    try:
        return p.is_file()
    except (OSError, ValueError):
        return False


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """Load and check a profile; every error names the file and the field."""
    path = profile_path(name_or_path)
    return profile_from_dict(read_profile_toml(path), str(path))


def read_profile_toml(path: Path) -> dict:
    """A profile file's parsed TOML, or a MemsimError naming the file (unreadable, not UTF-8, not TOML)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise MemsimError(f"{path}: cannot read the profile ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise MemsimError(f"{path}: not UTF-8 text (byte {exc.start}); a profile is a UTF-8 TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MemsimError(f"{path}: not valid TOML (duplicate keys are errors too): {exc}") from None
    except RecursionError:
        raise MemsimError(f"{path}: not valid TOML (nested too deeply)") from None


def _sources(table: dict, prefix: str, where: str, numbers: list[str]) -> dict[str, str]:
    src = table.get("source")
    if src is None:
        raise MemsimError(f"{where}: missing [{prefix}source] table; give a source for every number")
    if not isinstance(src, dict):
        raise MemsimError(f"{where}: '{prefix}source' must be a table")
    out = {}
    for key in numbers:
        if key not in src:
            raise MemsimError(f"{where}: field '{prefix}{key}' has no source; add {key} = \"...\" to "
                              f"[{prefix}source] (a datasheet, paper or measurement, or \"guess: why\")")
    for key, text in src.items():
        if key not in numbers:
            raise MemsimError(f"{where}: [{prefix}source] names '{key}', which is not a field here")
        if not isinstance(text, str) or not text.strip():
            raise MemsimError(f"{where}: source of '{prefix}{key}' must be a non-empty string")
        out[prefix + key] = text
    return out


def execution_from_table(table, where: str) -> tuple[Execution, dict[str, str]]:
    """An ``[execution]`` table (with its ``source``) checked as the profile loader checks it: the
    Execution and its sources keyed "execution.KEY"."""
    if not isinstance(table, dict):
        raise MemsimError(f"{where}: 'execution' must be a table")
    body = {k: v for k, v in table.items() if k != "source"}
    execution = Execution.from_dict(body, where=f"{where}: [execution]")
    return execution, _sources(table, "execution.", where, list(body))


def _check_bounds(data: dict, where: str) -> None:
    """The sizes of ``BOUNDS`` (after each constructor checked its own field's type and sign)."""
    def over(field: str, value, bound: int) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > bound:
            raise MemsimError(f"{where}: field '{field}' = {value} is larger than any device has (at most {bound:,}; "
                              "smartmem_sim/memsim/profiles.py BOUNDS); check the number")

    over("cores", data.get("cores"), BOUNDS["cores"])
    layout = data.get("image_layout")
    if isinstance(layout, dict):
        for key in ("tile_width", "tile_height", "gob_height", "block_height_gobs"):
            over(f"image_layout.{key}", layout.get(key), BOUNDS["image_layout.tile"])
        for key in ("pitch_alignment", "gob_width_bytes"):
            over(f"image_layout.{key}", layout.get(key), BOUNDS["image_layout.bytes"])
    levels = data.get("levels")
    if isinstance(levels, list):
        for t in levels:
            if isinstance(t, dict):
                label = t.get("name", "?")
                over(f"levels.{label}.size", t.get("size"), BOUNDS["levels.size"])
                over(f"levels.{label}.line", t.get("line"), BOUNDS["levels.line"])


def _check_integers(value, where: str, field: str = "") -> None:
    """Every integer fits 64 bits signed, as TOML requires (tomllib returns larger ones as Python ints, which
    numpy's checks downstream cannot take)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(1 << 63) <= value < (1 << 63):
        raise MemsimError(f"{where}: field '{field}' = {value} does not fit a 64-bit integer (TOML's range); "
                          "check the number")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_integers(v, where, f"{field}.{k}" if field else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_integers(v, where, f"{field}[{i}]")


def profile_from_dict(data: dict, where: str = "profile") -> DeviceProfile:
    """Build a profile from parsed TOML (``where`` names the file in errors)."""
    if not isinstance(data, dict):
        raise MemsimError(f"{where}: a profile is a TOML table, got {type(data).__name__}")
    _check_integers(data, where)
    _check_bounds(data, where)
    unknown = sorted(set(data) - set(TOP_KEYS) - set(TABLES))
    if unknown:
        raise MemsimError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: "
                          f"{', '.join(TOP_KEYS + TABLES)}")
    for key in (*TOP_KEYS, "image_layout", "levels", "dram"):
        if key not in data:
            raise MemsimError(f"{where}: missing key '{key}'")
    for key in ("name", "description"):
        if not isinstance(data[key], str) or not data[key]:
            raise MemsimError(f"{where}: field '{key}' must be a non-empty string")
    cores = data["cores"]
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise MemsimError(f"{where}: field 'cores' must be a positive integer, got {cores!r}")
    for key in ("clock_hz", "memory_parallelism"):
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v <= 0:
            raise MemsimError(f"{where}: field '{key}' must be a positive number, got {v!r}")
    sources = _sources(data, "", where, list(TOP_NUMBERS))

    layout_t = data["image_layout"]
    if not isinstance(layout_t, dict):
        raise MemsimError(f"{where}: 'image_layout' must be a table")
    sources |= _sources(layout_t, "image_layout.", where, [k for k in layout_t if k != "source"])
    layout = ImageLayout.from_table(layout_t, where=f"{where}: [image_layout]")

    levels_t = data["levels"]
    if not isinstance(levels_t, list) or not levels_t or not all(isinstance(t, dict) for t in levels_t):
        raise MemsimError(f"{where}: 'levels' must be one or more [[levels]] tables")
    levels = []
    for i, t in enumerate(levels_t):
        label = t.get("name", f"#{i}")
        lw = f"{where}: [[levels]] '{label}'"
        body = {k: v for k, v in t.items() if k != "source"}
        level = CacheLevel.from_dict(body, where=lw)
        sources |= _sources(t, f"levels.{level.name}.", where, [k for k in body if k != "name"])
        levels.append(level)

    dram_t = data["dram"]
    if not isinstance(dram_t, dict):
        raise MemsimError(f"{where}: 'dram' must be a table")
    dram_body = {k: v for k, v in dram_t.items() if k != "source"}
    dram = DramSpec.from_dict(dram_body, where=f"{where}: [dram]")
    sources |= _sources(dram_t, "dram.", where, list(dram_body))

    occupancy = None
    if "occupancy" in data:
        occ_t = data["occupancy"]
        if not isinstance(occ_t, dict):
            raise MemsimError(f"{where}: 'occupancy' must be a table")
        occ_body = {k: v for k, v in occ_t.items() if k != "source"}
        occupancy = Occupancy.from_dict(occ_body, where=f"{where}: [occupancy]")
        sources |= _sources(occ_t, "occupancy.", where, list(occ_body))

    execution = None
    if "execution" in data:
        execution, ex_sources = execution_from_table(data["execution"], where)
        sources |= ex_sources

    correction = None
    if "correction" in data:
        corr_t = data["correction"]
        if not isinstance(corr_t, dict):
            raise MemsimError(f"{where}: 'correction' must be a table")
        correction = Correction.from_dict({k: v for k, v in corr_t.items() if k != "source"},
                                          where=f"{where}: [correction]")
        sources |= _sources(corr_t, "correction.", where, ["clip", "kinds"])

    lines = sum(lv.size // lv.line * (cores if lv.per_core else 1) for lv in levels)
    if lines > BOUNDS["total_lines"]:
        raise MemsimError(f"{where}: the cache levels hold {lines:,} lines over all cores (size / line, times cores "
                          f"for a per-core level); the simulator keeps state for at most {BOUNDS['total_lines']:,} "
                          "(smartmem_sim/memsim/profiles.py BOUNDS); check the levels' size, line and per_core")

    profile = DeviceProfile(name=data["name"], description=data["description"], cores=cores,
                            clock_hz=float(data["clock_hz"]), memory_parallelism=float(data["memory_parallelism"]),
                            image_layout=layout, levels=levels, dram=dram, sources=sources, path=where,
                            occupancy=occupancy, execution=execution, correction=correction)
    try:
        profile.hierarchy()  # level order, line growth, unique names
    except MemsimError as exc:
        raise MemsimError(f"{where}: {exc}") from None
    return profile
