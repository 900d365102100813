"""Running compiled models on an OpenCL device: what `smartmem run` and ``smartmem_sim.run`` share.

One call compiles the model under each policy, runs every kernel on the device (same inputs and weights for
every policy, so times compare), and optionally checks the outputs against onnxruntime. Inputs are drawn from
``seed`` (smartmem_sim.inputs.random_inputs); stripped weights are filled from the same seed
(smartmem_sim.compiler.frontend.materialize_weights).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartmem_sim.errors import UserError

RTOL = {"fp32": 1e-4, "fp16": 2e-2}  # relative to the output's largest magnitude
# OpenCL "platform / device" label substring -> the device's profile, smartmem_sim/memsim/devices/NAME.toml (first match)
PROFILE_OF_DEVICE = (("NVIDIA H100", "h100_opencl"), ("Portable Computing Language", "pocl_cpu"))
TEXEL_REUSE_CHOICES = ("on", "off", "auto")
PROTOBUF_LIMIT = 2**31 - 1  # bytes a serialized ModelProto may have


@dataclass
class OutputCheck:
    """One model output against onnxruntime."""

    name: str
    max_error: float  # relative to the reference's largest magnitude
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_error <= self.tolerance


@dataclass
class PolicyRun:
    """One policy's run: per-kernel device times, the outputs, and their check when asked."""

    model: str
    policy: str
    storage: str
    device: str
    texel_reuse: bool
    repeat: int
    kernels: list  # KernelDef per launch, in order
    timings: list  # KernelTiming per launch (the median run of ``repeat``)
    outputs: dict[str, np.ndarray]
    checks: list[OutputCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # median host wall time of the runs after the first (whose kernels are built then), launches included;
    # None with one run
    latency_ms: float | None = None

    @property
    def total_ms(self) -> float:
        return sum(t.duration_ns for t in self.timings) / 1e6

    @property
    def max_error(self) -> float | None:
        return max((c.max_error for c in self.checks), default=None)

    @property
    def ok(self) -> bool | None:
        return all(c.ok for c in self.checks) if self.checks else None

    def __repr__(self) -> str:
        check = "" if self.ok is None else f", check {'ok' if self.ok else 'MISMATCH'} (max error {self.max_error:.1e})"
        return (f"PolicyRun({self.model} {self.policy} on {self.device}: {len(self.timings)} kernels, "
                f"{self.total_ms:.3f} ms device time{check})")

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per kernel launch: step, kernel, op type, global size, measured microseconds."""
        return [{"model": self.model, "policy": self.policy, "device": self.device, "step": k.step, "kernel": k.name,
                 "global_size": "x".join(map(str, k.global_size)), "us": t.duration_ns / 1e3}
                for k, t in zip(self.kernels, self.timings, strict=True)]


def texel_reuse_for(choice: str, label: str) -> tuple[bool, str]:
    """(texel_reuse, why) for ``--texel-reuse choice`` on the OpenCL device labelled ``label``."""
    if choice not in TEXEL_REUSE_CHOICES:
        raise UserError(f"--texel-reuse must be one of {', '.join(TEXEL_REUSE_CHOICES)}, got {choice!r}")
    if choice != "auto":
        return choice == "on", f"--texel-reuse {choice}"
    for needle, name in PROFILE_OF_DEVICE:
        if needle in label:
            from smartmem_sim import memsim

            return memsim.load_profile(name).require_execution().texel_reuse, f"auto: device table '{name}'"
    return True, "auto: no device table matches this device, on"


def search_profile_for(choice: str | None, label: str) -> str:
    """The device profile that prices ``search``: ``--search-profile`` or the one the device label matches."""
    if choice:
        from smartmem_sim import memsim

        memsim.load_profile(choice).require_execution()  # a clear error for a profile without an [execution] table
        return choice
    for needle, name in PROFILE_OF_DEVICE:
        if needle in label:
            return name
    raise UserError(f"--policy search: no device profile matches the OpenCL device '{label}'; "
                    "name one with --search-profile (e.g. adreno740, h100_opencl)")


def check_policies(names: Sequence[str]) -> list[str]:
    from smartmem_sim.compiler.pipeline import POLICIES

    names = list(names)
    bad = [p for p in names if p not in POLICIES]
    if not names or bad:
        raise UserError(f"--policy must be one or more of {', '.join(POLICIES)} separated by commas, "
                        f"got {','.join(names)!r}")
    if len(set(names)) != len(names):
        raise UserError(f"--policy names a policy twice: {','.join(names)!r}")
    return names


def _serialized_size(model) -> int:
    """Bytes of the serialized model; PROTOBUF_LIMIT where protobuf cannot even count them (past 2 GB)."""
    from google.protobuf.message import EncodeError

    try:
        return model.ByteSize()
    except EncodeError:
        return PROTOBUF_LIMIT


def reference_outputs(model, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's outputs of ``model`` (a ModelProto, weights filled) for ``feeds``."""
    import onnxruntime as ort

    if _serialized_size(model) < PROTOBUF_LIMIT:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    else:  # weights past protobuf's 2 GB (SD-UNet, Pythia-1B in fp32): hand onnxruntime a file with external data
        import tempfile

        import onnx

        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # saving with external data rewrites the initializers the IR shares
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/model.onnx"
            # tensors under 1 KB stay inline: onnxruntime reads some (Unsqueeze axes, Reshape shapes) at load
            onnx.save_model(copy, path, save_as_external_data=True, location="weights.bin", size_threshold=1024)
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, sess.run(None, {k: v for k, v in feeds.items() if k in wanted}), strict=True))


def check_outputs(plan, outputs: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], storage: str) -> list[OutputCheck]:
    """Every plan output against the reference, its error relative to the reference's largest magnitude."""
    checks = []
    for n in plan.outputs:
        source = plan.tensors[n].source or n
        ref = np.asarray(want[source], np.float32)
        err = float(np.abs(outputs[n] - ref).max()) / max(float(np.abs(ref).max()), 1e-30)
        checks.append(OutputCheck(source, err, RTOL[storage]))
    return checks


def load_for_run(model: str | Path, seed: int):
    """(ModelProto with weights filled, label, is_zoo) for a zoo name (NAME, NAME.tiny) or an .onnx file."""
    from smartmem_sim.compiler.frontend.weights import materialize_weights
    from smartmem_sim.simulation import read_source

    proto, label, zoo_net = read_source(model)
    return materialize_weights(proto, seed, name=str(model) if not zoo_net else label), label, zoo_net


def run_policies(model: str | Path, policies: Sequence[str], *, opencl_device: str | None = None,
                 storage: str = "fp32", seed: int = 0, dims: Mapping[str, int] | None = None,
                 texel_reuse: str = "auto", search_profile: str | None = None, repeat: int = 1,
                 check: bool = False, progress: bool = False,
                 log: Callable[[str], None] = lambda _line: None) -> list[PolicyRun]:
    """Compile ``model`` under each policy and run it on the OpenCL device whose platform/device label contains
    ``opencl_device`` (the first working one when None); ``check`` compares outputs with onnxruntime."""
    from smartmem_sim.compiler.frontend.load import load_model
    from smartmem_sim.inputs import random_inputs
    from smartmem_sim.kernels.execute import execute, fit_to_device
    from smartmem_sim.kernels.runtime.device import select_device
    from smartmem_sim.progress import bar
    from smartmem_sim.simulation import compile_for

    policies = check_policies(policies)
    if storage not in RTOL:
        raise UserError(f"--storage must be fp32 or fp16, got {storage!r}")
    if texel_reuse not in TEXEL_REUSE_CHOICES:  # checked before the slow steps
        raise UserError(f"--texel-reuse must be one of {', '.join(TEXEL_REUSE_CHOICES)}, got {texel_reuse!r}")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise UserError(f"--repeat must be a positive integer, got {repeat!r}")
    if "search" in policies and search_profile:
        search_profile_for(search_profile, "")  # a bad name fails before the slow steps
    proto, label, zoo_net = load_for_run(model, seed)
    graph = load_model(proto, dims=dict(dims) if dims else None, name=label)
    feeds = random_inputs(graph, seed)
    handle = select_device(opencl_device) if opencl_device else select_device()
    reuse, why = texel_reuse_for(texel_reuse, handle.info.label)
    log(f"texel reuse: {'on' if reuse else 'off'} ({why})")
    try:  # the profile that prices search's layouts and the tuned policies' tiles: this device's own
        profile = search_profile_for(search_profile, handle.info.label)
    except UserError:
        if "search" in policies:
            raise
        profile = "adreno740"
    log(f"layouts (search) and tiles (tuned policies) priced by the simulator on profile {profile}")
    want = reference_outputs(proto, feeds) if check else None
    runs = []
    for policy in bar(policies, desc="run", unit="policy", show=progress):
        plan, notes = fit_to_device(compile_for(graph, policy, profile, storage=storage), handle)
        inputs = {n: feeds[plan.tensors[n].source or n] for n in plan.inputs}
        done = [execute(plan, handle, inputs, texel_reuse=reuse)]  # generates the kernels (with the weights' values)
        kernels = done[0].kernels
        done += [execute(plan, handle, inputs, kernels=kernels) for _ in range(repeat - 1)]
        result = sorted(done, key=lambda r: r.total_ns)[(repeat - 1) // 2]
        walls = sorted(r.wall_ns for r in done[1:])
        runs.append(PolicyRun(label.removesuffix(".tiny"), policy, storage, handle.info.label,
                              reuse, repeat, kernels, result.timings, result.outputs,
                              check_outputs(plan, result.outputs, want, storage) if want is not None else [],
                              notes, walls[(len(walls) - 1) // 2] / 1e6 if walls else None))
    return runs
