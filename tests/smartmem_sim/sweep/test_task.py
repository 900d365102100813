"""smartmem_sim/sweep/task.py: Task validation, profile overrides, and task_key as a content hash (it changes
with model, profile, override, policy, storage and code, and with nothing else)."""
from __future__ import annotations

import shutil

import onnx
import pytest

from smartmem_sim import memsim
from smartmem_sim.errors import UserError
from smartmem_sim.sweep import Task, code_version, task_key
from smartmem_sim.sweep.task import build_device
from tests.compiler.search.graphs import attention


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "attn.onnx"
    onnx.save(attention(), str(path))
    return path


def test_the_key_changes_with_every_input_that_changes_results(onnx_path):
    base = Task("vit", "adreno740", "smartmem", tiny=True)
    variants = [
        base,
        Task("swin", "adreno740", "smartmem", tiny=True),
        Task("vit", "adreno740", "smartmem", tiny=False),
        Task("vit", "adreno740", "smartmem", tiny=True, batch=2),
        Task("vit", "mali_g57", "smartmem", tiny=True),
        Task("vit", "adreno740", "naive", tiny=True),
        Task("vit", "adreno740", "smartmem", tiny=True, storage="fp32"),
        Task("vit", "adreno740", "smartmem", tiny=True, overrides=(("levels.L1.size", 8192),)),
        Task("vit", "adreno740", "smartmem", tiny=True, overrides=(("levels.L1.size", 16384),)),
        Task("vit", "adreno740", "smartmem", tiny=True, overrides=(("image_layout.kind", "linear"),)),
        Task(str(onnx_path), "adreno740", "smartmem"),
    ]
    keys = [task_key(t) for t in variants]
    assert len(set(keys)) == len(keys)
    assert task_key(base, code="another-version") != task_key(base)
    # ... and with nothing else
    assert task_key(Task("vit", "adreno740", "smartmem", tiny=True)) == keys[0]
    assert task_key(base) == task_key(base, code=code_version())


def test_overrides_are_canonical_and_a_no_op_override_keeps_the_key():
    a = Task("vit", overrides=(("levels.L1.size", 8192), ("cores", 4)))
    b = Task("vit", overrides=[["cores", 4], ["levels.L1.size", 8192]])
    assert a == b and task_key(a) == task_key(b)
    l1 = memsim.load_profile("adreno740").levels[0].size
    assert task_key(Task("vit", overrides=(("levels.L1.size", l1),))) == task_key(Task("vit"))


def test_the_key_hashes_file_contents_not_names(onnx_path, tmp_path):
    copy = tmp_path / "elsewhere.onnx"
    shutil.copy(onnx_path, copy)
    assert task_key(Task(str(copy))) == task_key(Task(str(onnx_path)))
    onnx.save(attention(tokens=8), str(copy))
    assert task_key(Task(str(copy))) != task_key(Task(str(onnx_path)))

    # a profile file with the shipped numbers (another description) is the shipped profile ...
    text = memsim.profiles.profile_path("adreno740").read_text()
    prof = tmp_path / "mine.toml"
    prof.write_text(text.replace('description = "', 'description = "my copy: '))
    assert task_key(Task("vit", str(prof))) == task_key(Task("vit", "adreno740"))
    # ... and one with another L1 size is the shipped profile with that override
    prof.write_text(text.replace("size = 2048", "size = 8192", 1))
    assert task_key(Task("vit", str(prof))) == task_key(Task("vit", overrides=(("levels.L1.size", 8192),)))


def test_code_version_hashes_py_and_toml_sources(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "t.toml").write_text("k = 1\n")
    v0 = code_version(tmp_path, ("pkg",))
    (pkg / "notes.txt").write_text("not code")
    (pkg / "__pycache__" / "a.cpython.py").write_text("junk")
    assert code_version(tmp_path, ("pkg",)) == v0
    (pkg / "t.toml").write_text("k = 2\n")
    v1 = code_version(tmp_path, ("pkg",))
    (pkg / "b.py").write_text("")
    v2 = code_version(tmp_path, ("pkg",))
    assert len({v0, v1, v2}) == 3


def test_build_device_applies_overrides_and_keeps_the_execution_table():
    base = build_device(Task("vit"))
    dev = build_device(Task("vit", overrides=(("levels.L2.size", 131072), ("cores", 6),
                                              ("dram.bandwidth_bytes_per_s", 30e9))))
    assert dev.levels[1].size == 131072 and dev.cores == 6
    assert dev.dram.bandwidth_bytes_per_s == 30e9
    assert (dev.execution, dev.name) == (base.execution, base.name) and base.execution is not None
    assert dev.sources["levels.L2.size"].startswith("sweep override (was 1048576)")
    assert base.levels[1].size == 1048576  # the shipped profile is untouched
    slow = build_device(Task("vit", overrides=(("execution.launch_overhead_s", 1e-3),)))
    assert slow.execution.launch_overhead_s == 1e-3 and slow.execution.wave_size == base.execution.wave_size
    assert slow.sources["execution.launch_overhead_s"].startswith("sweep override (was 5e-06)")


def test_bad_tasks_and_overrides_say_what_is_wrong(onnx_path):
    with pytest.raises(UserError, match="Task.batch"):
        Task("vit", batch=0)
    with pytest.raises(UserError, match="Task.storage"):
        Task("vit", storage="int8")
    with pytest.raises(UserError, match="Task.tiny"):
        Task("vit", tiny=1)
    with pytest.raises(UserError, match="cores more than once"):
        Task("vit", overrides=(("cores", 2), ("cores", 4)))
    with pytest.raises(UserError, match="Task.overrides"):
        Task("vit", overrides=(("cores",),))
    with pytest.raises(UserError, match=r"override 'levels\.L9\.size' is not a field.*levels\.L1\.size"):
        task_key(Task("vit", overrides=(("levels.L9.size", 1024),)))
    with pytest.raises(UserError, match="override 'name'"):
        task_key(Task("vit", overrides=(("name", "x"),)))
    with pytest.raises(memsim.MemsimError, match="L1"):
        build_device(Task("vit", overrides=(("levels.L1.size", -5),)))
    with pytest.raises(UserError, match="neither an .onnx file nor a zoo network"):
        task_key(Task("nosuchnet"))
    with pytest.raises(UserError, match="does not exist"):
        task_key(Task("missing.onnx"))
    with pytest.raises(UserError, match="batch=2 applies to zoo networks only"):
        task_key(Task(str(onnx_path), batch=2))
    with pytest.raises(memsim.MemsimError, match="unknown device profile"):
        task_key(Task("vit", "nosuchdevice"))


def test_json_round_trip():
    t = Task("vit", "mali_g57", "naive", True, 1, "fp32", (("levels.L1.size", 8192),))
    assert Task.from_json(t.as_json()) == t
