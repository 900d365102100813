"""`smartmem validate --device-name NAME --profile P`: run a matrix of kernels (zoo models x policies;
tiny twins with NAME.tiny, full-size networks by NAME) on an OpenCL device, predict every kernel with
memsim under profile P (smartmem_sim.compiler.costs.SimulatedCost, the compiler's cost oracle), and report per-kernel
error, the share within +-10%, Spearman's rho per op type and how often the profile orders an operator's
layouts as the device does. Writes per-kernel rows (--csv), a predicted-vs-measured plot (--plot) and the
report (--report); or all three into a folder with -o DIR (validate.csv, validate.png with .svg/.pdf beside it,
report.txt). Launch overhead, wave size and ALU lanes come from the profile's [execution] table, or
from --execution FILE / the profile --base when given.

With --from-csv ROWS.csv no device is used: the measured times of an earlier run (its --csv) are predicted
again under --profile (plans are compiled again; compilation is deterministic), e.g. to compare the base
and the calibrated profile on one set of measurements. --budget-s stops adding models once spent."""
from __future__ import annotations

import time

from smartmem_sim.errors import UserError

DEFAULT_MODELS = "vit.tiny,swin.tiny,convnext.tiny,resnext.tiny"


def register(subparsers) -> None:
    p = subparsers.add_parser("validate", help="measured vs memsim-predicted kernel times under a profile",
                              description=__doc__)
    p.add_argument("--opencl-device", "--device-name", dest="device_name", metavar="DEVICE", default=None,
                   help="substring of the OpenCL platform/device to run on (required unless --from-csv)")
    p.add_argument("--from-csv", default=None, help="predict the measured rows of an earlier --csv (no device)")
    p.add_argument("--budget-s", default=None, help="stop measuring further models after this many seconds")
    p.add_argument("--profile", required=True, help="memsim profile: a shipped name or a .toml path")
    p.add_argument("--execution", default=None,
                   help="TOML whose [execution] table replaces the profile's (or the PROFILE.execution.toml "
                        "older versions of calibrate wrote; used by default beside a profile without the table)")
    p.add_argument("--base", default=None, help="profile whose [execution] table to use instead of --profile's")
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated zoo models (default {DEFAULT_MODELS})")
    p.add_argument("--policies", default="naive,fusion,smartmem", help="comma-separated policies")
    p.add_argument("--storage", default="fp32", help="fp32 or fp16")
    p.add_argument("--repeat", default="3", help="runs of each plan; median per kernel (default 3)")
    p.add_argument("--gate", default=None,
                   help="kernels enqueued behind a user event before the device may start them (default 128; 0 "
                        "launches each kernel as it is built, as `smartmem run` does, so short kernels may wait "
                        "for the host)")
    p.add_argument("--texel-reuse", choices=("on", "off", "device"), default="device",
                   help="build the measured and the simulated kernels with texel registers (on), without (off), or "
                        "as the profile's [execution] table says, as `smartmem run` does (device, default)")
    p.add_argument("--csv", default=None, help="per-kernel rows CSV")
    p.add_argument("--plot", default=None, help="predicted-vs-measured plot (.png or .pdf)")
    p.add_argument("--report", default=None, help="write the printed report here too")
    p.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="folder for validate.csv, validate.png and report.txt (the defaults of --csv, --plot, "
                        "--report)")
    p.set_defaults(func=run)


def run(args) -> int:
    from smartmem_sim.atomic import write_text
    from smartmem_sim.calibration import validate as v
    from smartmem_sim.commands.calibrate import _number, parse_models
    from smartmem_sim.compiler.costs import SimulatedCost
    from smartmem_sim.kernels.runtime.device import select_device
    from smartmem_sim.kernels.trace.sample import ProgramSampler

    if args.out is not None:
        from pathlib import Path

        folder = Path(args.out)
        if folder.exists() and not folder.is_dir():
            raise UserError(f"-o {folder}: is a file; give the folder to write validate.csv, validate.png and "
                            "report.txt into")
        folder.mkdir(parents=True, exist_ok=True)
        args.csv = args.csv or str(folder / "validate.csv")
        args.plot = args.plot or str(folder / "validate.png")
        args.report = args.report or str(folder / "report.txt")
    repeat = _number(args.repeat, "--repeat", 1, int)
    gate = _number(args.gate, "--gate", 0, int) if args.gate is not None else v.GATE
    if args.storage not in ("fp32", "fp16"):
        raise UserError(f"--storage must be fp32 or fp16, got {args.storage!r}")
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    bad = [p for p in policies if p not in v.POLICIES]
    if not policies or bad:
        raise UserError(f"--policies must be among {', '.join(v.POLICIES)}, got {args.policies!r}")
    models = parse_models(args.models)
    if not models:
        raise UserError("--models names no model")
    execution = v.read_execution(args.execution) if args.execution else None
    device = v.device_for(args.profile, execution, args.base)
    # the kernels measured and the kernels simulated are built the same way, with or without texel registers
    reuse = {"on": True, "off": False, "device": device.execution.texel_reuse}[args.texel_reuse]
    cost = SimulatedCost(device, ProgramSampler(texel_reuse=reuse))
    budget = _number(args.budget_s, "--budget-s", 1.0) if args.budget_s else float("inf")
    t0 = time.perf_counter()
    rows = []
    if args.from_csv:
        where = f"rows of {args.from_csv}"
        print(f"validate {device.name} against the measured {where}")
        rows = v.predict_rows(v.read_rows(args.from_csv), cost)
    else:
        if not args.device_name:
            raise UserError("--device-name is required (or give --from-csv with measured rows)")
        handle = select_device(args.device_name)
        where = handle.info.label
        print(f"validate {device.name} on {where}: {len(models)} models x {len(policies)} policies, "
              f"{args.storage}, repeat {repeat}, texel registers {'on' if reuse else 'off'}, "
              + (f"kernels enqueued {gate} at a time behind a gate" if gate else "ungated launches"))
        from smartmem_sim.progress import bar

        for name, tiny in bar(models, desc="validate", unit="model"):
            if time.perf_counter() - t0 > budget:
                print(f"budget spent: skipping {name}{'.tiny' if tiny else ''}")
                continue
            rows += v.run_model(name, tiny, policies, args.storage, handle, cost, repeat, gate=gate)
            if args.csv:  # after every model, so a run cut short keeps what it measured
                write_text(args.csv, v.rows_csv(rows))
    summary = v.summarize(rows)
    lines = v.report_lines(summary) + [f"({time.perf_counter() - t0:.0f} s; profile {args.profile}; "
                                       f"launch overhead {device.execution.launch_overhead_s * 1e6:.2f} us per kernel)"]
    print("\n".join(lines))
    if args.csv:
        write_text(args.csv, v.rows_csv(rows))
    if args.plot:
        v.plot(rows, args.plot, f"{device.name} vs {where}: {summary['within']:.0%} of "
                                f"{summary['kernels']} kernels within +-10%")
    if args.report:
        write_text(args.report, "\n".join(lines) + "\n")
    return 0
