"""The adaptive sweeps of ``smartmem calibrate``: which microbenchmarks run at which footprints and strides,
under a time budget, and the fitted numbers they give. Every measurement becomes one raw row (for the CSV);
:class:`Calibration` holds the rows and the fitted values with a note on how each was obtained.

Phases (each gets a share of ``budget_s`` and stops adding points when its share is spent; what was cut
is noted):
1. capacity: random buffer chase, stride ``line0`` (the base profile's L1 line), footprints doubling from
   4 KB up to 4x the base profile's largest level (capped by the device's largest allocation); knees found
   (fit.find_knees), then each knee refined with three footprints at 2^(1/4) spacing.
2. line: the same chase with stride 4 x line0 around the first knee (fit.line_from_knees).
3. sector: sequential buffer chase, strides 4 B .. 4 x line0, over a footprint between the first two knees
   (fit.fetch_granularity between the L1 and L2 plateaus).
4. image: random image chase at the centre of every plateau (the latencies the profile takes: kernels read
   images); row-wise and column-wise sequential image sweeps (x stride in texels, y stride in rows) that
   give the 2-D extent of a fetched block.
5. streams: image (fp32), image (fp16 storage) and buffer reads of a footprint inside each level and one
   beyond the last, each at three lengths: bandwidth and intercept by least squares (fit.fit_bandwidth).
6. launch: median device time of an empty kernel.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from smartmem_sim.calibration import fit
from smartmem_sim.kernels.microbench import bench
from smartmem_sim.kernels.runtime.device import DeviceHandle
from smartmem_sim.memsim import DeviceProfile

PHASE_SHARES = {"capacity": 0.35, "line": 0.1, "sector": 0.1, "image": 0.2, "streams": 0.2, "launch": 0.05}
MIN_FOOTPRINT = 4096
MAX_FOOTPRINT = 512 << 20  # bytes; image rows of 16 KB and heights <= 32768 allow this much


@dataclass
class Calibration:
    """Raw rows and fitted values of one calibration run (values in bytes, ns, bytes/s)."""

    device_label: str
    clock_hz: float
    compute_units: int
    rows: list[dict] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # value key -> how it was measured
    truncated: list[str] = field(default_factory=list)  # phases the budget cut short

    def add(self, phase: str, row: dict) -> None:
        self.rows.append({"phase": phase, **row})

    def put(self, key: str, value: float, note: str) -> None:
        self.values[key] = float(value)
        self.notes[key] = note


class _Clock:
    def __init__(self, budget_s: float):
        self.t0 = time.perf_counter()
        self.budget = budget_s
        self.spent = 0.0

    def share(self, phase: str) -> float:
        """Deadline (perf_counter seconds) of ``phase``: its share plus whatever earlier phases left."""
        self.spent += PHASE_SHARES[phase] * self.budget
        return self.t0 + self.spent


def _geo(a: float, b: float) -> float:
    return math.sqrt(a * b)


def calibrate(handle: DeviceHandle, base: DeviceProfile, budget_s: float = 120.0, max_steps: int = 1 << 19,
              stream_target_ns: float = 2e6, seed: int = 0) -> Calibration:
    """Run every phase on ``handle`` (module docstring); ``base`` gives the starting line size and the
    number of levels to look for."""
    clock_mhz = float(handle.device.max_clock_frequency)
    cal = Calibration(handle.info.label, clock_mhz * 1e6, handle.info.compute_units)
    clk = _Clock(budget_s)
    line0 = base.levels[0].line
    n_levels = len(base.levels)
    cap = int(min(MAX_FOOTPRINT, handle.info.max_alloc_bytes // 2, 4 * max(lv.size for lv in base.levels)))

    # 1. capacity
    deadline = clk.share("capacity")
    pts: dict[int, float] = {}

    def chase(fp: int, stride: int, phase: str) -> float:
        r = bench.chase_buffer(handle, fp, stride, "random", max_steps, seed=seed)
        cal.add(phase, r.row())
        return r.ns_per_step

    fp = MIN_FOOTPRINT
    while fp <= cap:
        if time.perf_counter() > deadline and len(pts) >= 6:  # a knee needs a few points on each side
            cal.truncated.append(f"capacity sweep stopped at {fp} B (budget)")
            break
        pts[fp] = chase(fp, line0, "capacity")
        fp *= 2
    knees = _knees(pts, n_levels)
    for k in knees:
        for j in (1, 2, 3):
            f = int(k.capacity_bytes * 2 ** (j / 4)) // line0 * line0
            if f < k.next_bytes and f not in pts and time.perf_counter() < deadline + 0.5 * PHASE_SHARES["capacity"] * budget_s:
                pts[f] = chase(f, line0, "capacity")
    knees = _knees(pts, n_levels)
    xs = sorted(pts)
    lat = fit.plateaus(xs, [pts[x] for x in xs], knees)
    for i, k in enumerate(knees):
        cal.put(f"capacity_{i}", k.capacity_bytes,
                f"knee of a random buffer chase (stride {line0} B) between {int(k.capacity_bytes)} and "
                f"{int(k.next_bytes)} B footprint ({k.lower_latency:.1f} -> {k.upper_latency:.1f} ns)")
    for i, v in enumerate(lat):
        cal.put(f"buffer_latency_{i}", v, f"plateau {i} of the random buffer chase (median ns per read)")

    # 2. line
    deadline = clk.share("line")
    if knees:
        c1, big = knees[0].capacity_bytes, 4 * line0
        pts_big: dict[int, float] = {}
        f = int(c1 / 2) // big * big
        while f <= 16 * c1 and f <= cap:
            if time.perf_counter() > deadline:
                cal.truncated.append("line sweep (budget)")
                break
            pts_big[f] = chase(f, big, "line")
            f = int(f * math.sqrt(2)) // big * big
        kb = fit.find_knees(sorted(pts_big), [pts_big[x] for x in sorted(pts_big)], 1) if len(pts_big) >= 4 else []
        if kb:
            line = fit.line_from_knees(c1, line0, kb[0].capacity_bytes, big)
            cal.put("line", line, f"capacity knee at stride {line0} B: {int(c1)} B, at stride {big} B: "
                                  f"{int(kb[0].capacity_bytes)} B; line = {big} * ratio")

    # 3. sector (fetch granularity of the first level)
    deadline = clk.share("sector")
    if len(knees) >= 1 and len(lat) >= 2:
        upper = knees[1].capacity_bytes if len(knees) >= 2 else cap
        f_mid = int(min(max(4 * knees[0].capacity_bytes, _geo(knees[0].next_bytes, upper)), upper / 2, cap))
        strides, lats = [], []
        s = 4
        while s <= 4 * line0 and time.perf_counter() < deadline:
            r = bench.chase_buffer(handle, f_mid // s * s, s, "sequential", max_steps, seed=seed)
            cal.add("sector", r.row())
            strides.append(s)
            lats.append(r.ns_per_step)
            s *= 2
        if len(strides) >= 2 and lat[1] > lat[0]:
            g, note = fit.fetch_granularity(strides, lats, lat[0], lat[1])
            cal.put("fetch_bytes", g, f"sequential buffer chase over {f_mid} B: {note}")

    # 4. image latencies per plateau, image fetch-block shape
    deadline = clk.share("image")
    centres = _plateau_centres(knees, cap)
    for i, c in enumerate(centres):
        if time.perf_counter() > deadline:
            cal.truncated.append(f"image latency of level {i} (budget)")
            break
        dense = c // 16 <= max_steps // 2
        r = bench.chase_image(handle, c, 1 if dense else 4, 1 if dense else 4, "random", max_steps=max_steps,
                              seed=seed)
        cal.add("image", r.row())
        cal.put(f"image_latency_{i}", r.ns_per_step, f"random image chase over {r.footprint_bytes} B "
                                                     f"({'every texel' if dense else 'one texel per 4x4'})")
    if knees and "image_latency_1" in cal.values:
        _image_shape(handle, cal, knees, cap, max_steps, deadline, seed)

    # 5. streams
    deadline = clk.share("streams")
    for i, c in enumerate(centres):
        for kind in ("image", "image_fp16", "buffer"):
            if kind == "image_fp16" and not handle.half_images_ok:
                cal.notes.setdefault("image_fp16", "device lists no working CL_HALF_FLOAT RGBA image: not measured")
                continue
            if time.perf_counter() > deadline and (i or kind != "image"):  # the L1 fp32 stream always runs
                cal.truncated.append(f"stream {kind} level {i} (budget)")
                break
            bw = _stream(handle, cal, kind, c, stream_target_ns)
            cal.put(f"bandwidth_{kind}_{i}", bw[0], f"stream_{kind} over {bw[2]} B, least squares over 3 "
                                                    f"lengths (intercept {bw[1] / 1e3:.1f} us)")

    # 6. launch
    clk.share("launch")
    t = bench.launch_overhead_ns(handle)
    cal.add("launch", {"bench": "empty", "ns": t})
    cal.put("launch_ns", t, "median device time (profiling start -> end) of 30 empty kernels")
    return cal


def _knees(pts: dict[int, float], n_levels: int) -> list[fit.Knee]:
    xs = sorted(pts)
    if len(xs) < 4:
        return []
    return fit.find_knees(xs, [pts[x] for x in xs], n_levels)


def _plateau_centres(knees: list[fit.Knee], cap: int) -> list[int]:
    """A footprint inside each plateau: a quarter of the first capacity, the geometric centre between
    knees, and 4x the last capacity (capped) beyond them."""
    if not knees:
        return [MIN_FOOTPRINT, cap]
    out = [max(MIN_FOOTPRINT, int(knees[0].capacity_bytes // 4))]
    for a, b in zip(knees, knees[1:], strict=False):
        out.append(int(_geo(a.next_bytes, b.capacity_bytes)))
    out.append(int(min(cap, 4 * knees[-1].next_bytes)))
    return [max(MIN_FOOTPRINT, 1 << round(math.log2(c))) for c in out]


def _stream(handle, cal: Calibration, kind: str, footprint: int, target_ns: float) -> tuple[float, float, int]:
    """Bandwidth (bytes/s), intercept (ns) and footprint of a stream, fitted over three lengths."""
    width, height = bench._stream_shape(footprint, 8 if kind == "image_fp16" else 16)
    one_pass = max(1, -(-height // bench.STREAM_GROUPS))
    r0 = bench.stream(handle, kind, footprint, one_pass)
    cal.add("streams", r0.row())
    scale = max(1, int(target_ns / max(r0.ns, 1.0)))
    runs = [r0]
    for m in ((scale, 2 * scale) if scale > 1 else (2, 4)):
        r = bench.stream(handle, kind, footprint, one_pass * m)
        cal.add("streams", r.row())
        runs.append(r)
    bps, intercept, _ = fit.fit_bandwidth([r.bytes_read for r in runs], [r.ns for r in runs])
    return bps, intercept, r0.footprint_bytes


def _image_shape(handle, cal: Calibration, knees, cap, max_steps, deadline, seed) -> None:
    """Sequential image sweeps along x (every 16th row) and along y (every 16th texel column) over a
    footprint whose touched blocks exceed the first level 4x; miss shares between the image L1 and
    outer latencies give the fetched block's extent in texels and rows."""
    c1 = knees[0].capacity_bytes
    upper = knees[1].capacity_bytes if len(knees) >= 2 else cap
    f = int(min(64 * c1, max(upper / 2, 8 * c1), cap))
    hit = cal.values["image_latency_0"]
    ref = bench.chase_image(handle, f, 1, 1, "random", max_steps=max_steps, seed=seed)
    cal.add("image_shape", ref.row())
    miss = ref.ns_per_step
    if not miss > hit * 1.2:
        cal.notes["image_block"] = f"image chase over {f} B is not slower than L1; block shape not measured"
        return
    for axis, steps in (("x", (1, 2, 4, 8, 16)), ("y", (1, 2, 4, 8, 16))):
        s_list, lats = [], []
        for s in steps:
            if time.perf_counter() > deadline:
                cal.truncated.append(f"image {axis} sweep (budget)")
                break
            if axis == "x":
                r = bench.chase_image(handle, f, s, 16, "sequential", max_steps=max_steps)
            else:
                r = bench.chase_image(handle, f, 16, s, "sequential", column_major=True, max_steps=max_steps)
            cal.add(f"image_{axis}", r.row())
            s_list.append(s)
            lats.append(r.ns_per_step)
        if len(s_list) >= 2:
            g, note = fit.fetch_granularity(s_list, lats, hit, miss)
            unit = "texels" if axis == "x" else "rows"
            cal.put(f"image_block_{axis}", g, f"sequential image chase along {axis} over {f} B: {note} ({unit})")


def summary_lines(cal: Calibration) -> list[str]:
    out = [f"device: {cal.device_label}, clock {cal.clock_hz / 1e6:.0f} MHz, {cal.compute_units} compute units"]
    for k, v in cal.values.items():
        out.append(f"  {k:28s} {v:14.4g}   {cal.notes[k]}")
    out += [f"  note {k}: {t}" for k, t in cal.notes.items() if k not in cal.values]
    out += [f"  cut by budget: {t}" for t in cal.truncated]
    return out


def rows_as_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols, [[r.get(c, "") for c in cols] for r in rows]


__all__ = ["Calibration", "calibrate", "rows_as_table", "summary_lines"]
