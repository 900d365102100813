"""Turn a :class:`~smartmem_sim.calibration.measure.Calibration` into a memsim profile TOML (strict: the
keys memsim.profiles accepts, a source for every number), its [execution] table included (the cost models'
numbers: the base profile's wave size, ALU lanes and texel registers, the measured launch overhead).

Every fitted number's source reads "calibrated: <benchmark>, <date>, <device>"; a number calibration does
not measure keeps the base profile's value and says so ("guess (base profile ...)" when the base marked it
a guess, so memsim's ``guesses()`` still lists it).

Mapping (smartmem_sim/memsim/timing.py sums ``accesses_k * latency_k`` over the levels a request passes, so level
latencies are *increments*):
- cores: CL_DEVICE_MAX_COMPUTE_UNITS; clock_hz: CL_DEVICE_MAX_CLOCK_FREQUENCY;
- level k size: the k-th capacity knee, rounded to the nearest ways * line * 2^j (memsim needs a
  power-of-two set count); L1 line / sector: the line and fetch-granularity fits;
- level k latency_cycles: (image-chase plateau k - plateau k-1) * clock; dram latency: (buffer-chase
  plateau beyond the last knee - the one before) * clock (the image chase there is sparse: see below);
- level k bandwidth_bytes_per_cycle: fp32 image stream inside level k / clock / copies (cores for per-core
  levels); dram bandwidth: the stream beyond the last level;
- memory_parallelism: least squares against measured kernels when fitted, else the base value;
- [execution] launch_overhead_s: the median empty-kernel device time; the rest of the table is the base
  profile's (written only when the base has one).
"""
from __future__ import annotations

import math
import tomllib
from datetime import date

from smartmem_sim.calibration.measure import Calibration
from smartmem_sim.errors import UserError
from smartmem_sim.memsim import DeviceProfile
from smartmem_sim.memsim.profiles import profile_from_dict

LEVEL_KEYS = ("size", "ways", "line", "sector", "policy", "seed", "per_core", "write", "write_allocate",
              "latency_cycles", "bandwidth_bytes_per_cycle", "energy_pj_per_byte")


def _valid_size(measured: float, ways: int, line: int) -> int:
    unit = ways * line
    return unit * (1 << max(0, round(math.log2(max(measured, unit) / unit))))


def base_source(base: DeviceProfile, key: str) -> str:
    text = base.sources.get(key, "")
    if text.lower().startswith("guess"):  # stays a guess, so memsim's guesses() still lists it
        return f"guess (base profile {base.name}, not calibrated): {text}"
    return f"base profile {base.name} (not calibrated): {text}"


def build_profile(cal: Calibration, base: DeviceProfile, name: str, mp: tuple[float, str] | None = None,
                  day: str | None = None) -> dict:
    """The calibrated profile as a dict in the TOML's shape (see smartmem_sim/memsim/profiles.py)."""
    day = day or date.today().isoformat()
    tag = f"{day}, {cal.device_label}"
    v = cal.values

    def src(bench: str) -> str:
        return f"calibrated: {bench}, {tag}"

    top = {"name": name, "description": f"{base.description}; calibrated on {cal.device_label} ({day})",
           "cores": cal.compute_units, "clock_hz": cal.clock_hz,
           "memory_parallelism": mp[0] if mp else base.memory_parallelism}
    sources = {"cores": src("CL_DEVICE_MAX_COMPUTE_UNITS"), "clock_hz": src("CL_DEVICE_MAX_CLOCK_FREQUENCY"),
               "memory_parallelism": src(mp[1]) if mp else base_source(base, "memory_parallelism")}
    layout = {k: getattr(base.image_layout, k) for k in base.image_layout.__dataclass_fields__
              if f"image_layout.{k}" in base.sources}
    block = ""
    if "image_block_x" in v and "image_block_y" in v:
        block = (f"; our image sweeps saw a fetched block of {int(v['image_block_x'])} texels x "
                 f"{int(v['image_block_y'])} rows")
    layout_src = {k: base_source(base, f"image_layout.{k}") + block for k in layout}
    clock = cal.clock_hz
    levels, prev_line = [], 0
    # plateau k of the sweeps belongs to level k while knees were found; the one after the last knee is DRAM
    n = sum(1 for k in v if k.startswith("capacity_"))
    for i, lv in enumerate(base.levels):
        t = {k: getattr(lv, k) for k in LEVEL_KEYS if f"levels.{lv.name}.{k}" in lv_sources(base, lv)}
        s = {k: base_source(base, f"levels.{lv.name}.{k}") for k in t}
        line = lv.line
        if i == 0 and "line" in v:
            line = int(v["line"])
            t["line"], s["line"] = line, src(f"random buffer chase knees at two strides ({cal.notes['line']})")
        line = max(line, prev_line)
        if t.get("line", line) != line:
            t["line"], s["line"] = line, f"{base_source(base, f'levels.{lv.name}.line')}; raised to the inner line"
        prev_line = line
        if i == 0 and "fetch_bytes" in v:
            t["sector"] = int(min(v["fetch_bytes"], line))
            s["sector"] = src(f"sequential buffer chase stride sweep ({cal.notes['fetch_bytes']})")
        elif "sector" in t and t["sector"] > line:
            t["sector"] = line
        if f"capacity_{i}" in v:
            size = _valid_size(v[f"capacity_{i}"], lv.ways, line)
            t["size"] = size
            s["size"] = src(f"{cal.notes[f'capacity_{i}']}; rounded to {lv.ways} ways x {line} B x 2^k")
        lat = _increment(v, i, clock) if i < n else None
        if lat is not None:
            t["latency_cycles"] = lat
            s["latency_cycles"] = src(f"random image chase plateau {i} minus plateau {i - 1}" if i else
                                      "random image chase plateau 0") + " (ns x clock)"
        bw = v.get(f"bandwidth_image_{i}") if i < n else None
        if bw:
            copies = cal.compute_units if lv.per_core else 1
            t["bandwidth_bytes_per_cycle"] = bw / clock / copies
            s["bandwidth_bytes_per_cycle"] = src(f"fp32 image stream inside level {i}: {bw / 1e9:.1f} GB/s"
                                                 f" / clock / {copies} copies")
        t = {"name": lv.name, **t, "source": s}
        levels.append(t)
    dram = {"bandwidth_bytes_per_s": base.dram.bandwidth_bytes_per_s, "latency_cycles": base.dram.latency_cycles,
            "energy_pj_per_byte": base.dram.energy_pj_per_byte}
    dsrc = {k: base_source(base, f"dram.{k}") for k in dram}
    if v.get(f"bandwidth_image_{n}"):
        dram["bandwidth_bytes_per_s"] = v[f"bandwidth_image_{n}"]
        dsrc["bandwidth_bytes_per_s"] = src(f"fp32 image stream beyond the last level ({cal.notes[f'bandwidth_image_{n}']})")
    # DRAM latency from the buffer chase: its footprints beyond the last knee are dense in lines, while the
    # image chase there visits one texel per 8x8 block and its lines may still fit the last level
    lat = _increment(v, n, clock, "buffer_latency")
    if lat is not None:
        dram["latency_cycles"] = lat
        dsrc["latency_cycles"] = src(f"random buffer chase plateau {n} minus plateau {n - 1} (ns x clock)")
    out = {**top, "source": sources, "image_layout": {**layout, "source": layout_src}, "levels": levels,
           "dram": {**dram, "source": dsrc}}
    if base.occupancy is not None:  # not measured by the microbenchmarks: timing_fit fits it on kernels
        occ = {k: getattr(base.occupancy, k) for k in base.occupancy.__dataclass_fields__}
        out["occupancy"] = {**occ, "source": {k: base_source(base, f"occupancy.{k}") for k in occ}}
    if base.execution is not None:
        ex = {"wave_size": base.execution.wave_size, "alu_lanes": base.execution.alu_lanes,
              "launch_overhead_s": base.execution.launch_overhead_s, "texel_reuse": base.execution.texel_reuse}
        ex_src = {k: base_source(base, f"execution.{k}") for k in ex if f"execution.{k}" in base.sources}
        ex = {k: x for k, x in ex.items() if k in ex_src}  # texel_reuse only when the base states it
        if "launch_ns" in v:
            ex["launch_overhead_s"] = v["launch_ns"] * 1e-9
            ex_src["launch_overhead_s"] = src("median empty-kernel device time")
        out["execution"] = {**ex, "source": ex_src}
    return out


def lv_sources(base: DeviceProfile, lv) -> set[str]:
    return {k for k in base.sources if k.startswith(f"levels.{lv.name}.")}


def _increment(v: dict, i: int, clock: float, key: str = "image_latency") -> float | None:
    cur = v.get(f"{key}_{i}")
    if cur is None:
        return None
    prev = v.get(f"{key}_{i - 1}", 0.0) if i else 0.0
    inc = (cur - prev) * 1e-9 * clock
    return round(inc, 2) if inc > 0 else None


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(float(f"{v:.6g}"))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    raise UserError(f"cannot write {v!r} to a profile")


def _table(body: dict) -> list[str]:
    return [f"{k} = {_fmt(x)}" for k, x in body.items() if k != "source" and x is not None]


def to_toml(profile: dict, header: str) -> str:
    """Profile dict -> TOML text; checked by memsim's own loader before it is returned."""
    out = [f"# {line}" for line in header.splitlines()]
    out += _table({k: profile[k] for k in ("name", "description", "cores", "clock_hz", "memory_parallelism")})
    out += ["", "[source]"] + _table(profile["source"])
    out += ["", "[image_layout]"] + _table(profile["image_layout"])
    out += ["", "[image_layout.source]"] + _table(profile["image_layout"]["source"])
    for lv in profile["levels"]:
        out += ["", "[[levels]]"] + _table(lv) + ["", "[levels.source]"] + _table(lv["source"])
    out += ["", "[dram]"] + _table(profile["dram"]) + ["", "[dram.source]"] + _table(profile["dram"]["source"])
    for name in ("occupancy", "execution"):
        if name in profile:
            out += ["", f"[{name}]"] + _table(profile[name])
            out += ["", f"[{name}.source]"] + _table(profile[name]["source"])
    if "correction" in profile:
        corr = profile["correction"]
        out += ["", "[correction]"] + _table({k: v for k, v in corr.items() if k != "kinds"})
        out += ["", "[correction.kinds]"] + _table(corr["kinds"])
        out += ["", "[correction.source]"] + _table(corr["source"])
    text = "\n".join(out) + "\n"
    profile_from_dict(tomllib.loads(text), "calibrated profile")  # raises MemsimError naming the field
    return text

