"""`smartmem calibrate --opencl-device NAME -o DIR`: run OpenCL microbenchmarks on a device (pointer
chases over growing footprints and strides, image and buffer streams in fp32 and fp16 storage, an empty
kernel), fit a memsim profile's sizes and timing numbers from them (smartmem_sim/calibration/fit.py), and
write the profile with a source for every number ("calibrated: <benchmark>, <date>, <device>"; numbers not
measured keep the base profile's value and source), its [execution] table (the cost models' numbers) being
the base profile's with the measured launch overhead. Written into DIR: PROFILE.toml and its raw
measurements PROFILE.csv (PROFILE: --name, default <base>_calibrated). With --train-models, memory_parallelism is fitted by least squares against
measured kernels of those zoo models (use other models for `smartmem validate`)."""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

from smartmem_sim.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="fit a memsim device profile from OpenCL microbenchmarks",
                              description=__doc__)
    p.add_argument("--opencl-device", "--device-name", dest="device_name", metavar="DEVICE", required=True, help="substring of the OpenCL platform/device to measure")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="folder to write PROFILE.toml and PROFILE.csv (raw measurements) into")
    p.add_argument("--force", action="store_true", help="replace PROFILE.toml and PROFILE.csv if they exist")
    p.add_argument("--base", default=None,
                   help="profile to start from (default: h100_opencl on an NVIDIA GPU, pocl_cpu on a CPU)")
    p.add_argument("--name", default=None, help="name of the new profile (default: <base>_calibrated)")
    p.add_argument("--budget-s", default="120", help="seconds the microbenchmarks may take (default 120)")
    p.add_argument("--max-steps", default=str(1 << 19), help="longest pointer chase, reads (default 2^19)")
    p.add_argument("--stream-ms", default="2", help="target length of a stream kernel, ms (default 2)")
    p.add_argument("--train-models", default="",
                   help="zoo models (NAME or NAME.tiny, comma-separated) to fit memory_parallelism on")
    p.add_argument("--repeat", default="3", help="runs of each training plan, median per kernel (default 3)")
    p.set_defaults(func=run)


def _number(text: str, flag: str, low: float, kind=float):
    try:
        v = kind(text)
    except ValueError:
        raise UserError(f"{flag} must be a number, got {text!r}") from None
    if v < low:
        raise UserError(f"{flag} must be at least {low}, got {v}")
    return v


def parse_models(text: str) -> list[tuple[str, bool]]:
    """'vit,swin.tiny' -> [('vit', False), ('swin', True)]."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if item:
            out.append((item.removesuffix(".tiny"), item.endswith(".tiny")))
    return out


def default_base(info) -> str:
    label = f"{info.platform_name} {info.device_name}".lower()
    if "nvidia" in label:
        return "h100_opencl"
    if "CPU" in info.device_type:
        return "pocl_cpu"
    raise UserError(f"no default base profile for '{info.label}'; pass --base NAME (one of smartmem_sim/memsim/devices)")


def run(args) -> int:
    from smartmem_sim import memsim
    from smartmem_sim.calibration import measure
    from smartmem_sim.kernels.runtime.device import select_device
    from smartmem_sim.outputs import check_outputs

    budget = _number(args.budget_s, "--budget-s", 1.0)
    max_steps = _number(args.max_steps, "--max-steps", 1024, int)
    stream_ms = _number(args.stream_ms, "--stream-ms", 0.01)
    repeat = _number(args.repeat, "--repeat", 1, int)
    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"-o {folder}: is a file; give the folder to write the profile and its CSV into")
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        raise UserError(f"--name {args.name!r}: use letters, digits, '_', '.' and '-' (it names the files)")
    if args.name:  # the paths are checked before the device is touched
        check_outputs([folder / f"{args.name}.toml", folder / f"{args.name}.csv"], force=args.force)
    handle = select_device(args.device_name)
    base_name = args.base or default_base(handle.info)
    base = memsim.load_profile(base_name)
    base.require_execution()  # the calibrated profile's [execution] table starts from the base's
    name = args.name or f"{base.name}_calibrated"
    out, csv_path = check_outputs([folder / f"{name}.toml", folder / f"{name}.csv"], force=args.force)
    day = date.today().isoformat()
    print(f"calibrating {handle.info.label} from base profile {base.name} (budget {budget:g} s)")
    from smartmem_sim.progress import Stages

    with Stages("calibrate", ["microbenchmarks", "train", "write"]) as bar:
        bar.start("microbenchmarks")
        cal = measure.calibrate(handle, base, budget, max_steps, stream_ms * 1e6)
        bar.start("train")
        return _fit_and_write(args, handle, base, name, day, cal, out, csv_path, repeat, bar)


def _fit_and_write(args, handle, base, name, day, cal, out, csv_path, repeat, bar) -> int:
    from smartmem_sim.atomic import write_text
    from smartmem_sim.calibration import measure, profile_out

    for line in measure.summary_lines(cal):
        print(line)
    mp = None
    train = parse_models(args.train_models)
    if train:
        from smartmem_sim.calibration.parallelism import fit_on_models
        from smartmem_sim.calibration.validate import device_for

        draft = profile_out.build_profile(cal, base, name, None, day)  # [execution]: the measured launch overhead
        tmp = out.with_suffix(".draft.toml")
        write_text(tmp, profile_out.to_toml(draft, "draft"))
        try:
            dev = device_for(str(tmp))
        finally:
            tmp.unlink()
        value, rms, n = fit_on_models(handle, dev, train, ("naive", "smartmem"), "fp32", repeat)
        mp = (value, f"least squares of memsim's timing formula on {n} measured kernels of "
                     f"{args.train_models} (naive and smartmem, fp32; rms log error {rms:.2f})")
        print(f"memory_parallelism = {value:.4g} ({mp[1]})")
    bar.start("write")
    profile = profile_out.build_profile(cal, base, name, mp, day)
    header = (f"Calibrated by `smartmem calibrate --device-name {args.device_name}` on {day}, device "
              f"'{cal.device_label}', base profile {base.name}.\nRaw measurements: "
              f"{csv_path.name}. Sources starting with "
              "'calibrated:' are fitted; the rest are the base profile's.")
    if cal.truncated:
        header += "\nCut by the time budget: " + "; ".join(cal.truncated)
    write_text(out, profile_out.to_toml(profile, header))
    cols, table = measure.rows_as_table(cal.rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    w.writerows(table)
    write_text(csv_path, buf.getvalue())
    print(f"profile (with its [execution] table): {out}\nraw measurements: {csv_path}")
    return 0
