#!/usr/bin/env bash
# The package as a user installs it: build the wheel, install it (no extras) into a fresh venv, and run the
# README's main job and its memsim snippet from outside the checkout, so nothing is imported from the tree.
# Catches data files missing from the wheel and imports that only resolve in an editable install. CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip wheel -q --no-deps -w "$tmp/dist" .
"$py" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "$tmp"/dist/*.whl
cd "$tmp"
"$tmp/venv/bin/smartmem" --version
"$tmp/venv/bin/smartmem" compare swin --tiny --device adreno740 --out "$tmp/compare"
ls "$tmp"/compare/*.json "$tmp"/compare/*.png >/dev/null || { echo "check_wheel: compare wrote no JSON or plot" >&2; exit 1; }
# the README's memsim snippet, exactly as the README shows it
"$tmp/venv/bin/python" - <<PY
import re, pathlib
text = pathlib.Path("$root/README.md").read_text()
snippet = re.search(r"memsim on its own.*?\`\`\`python\n(.*?)\`\`\`", text, re.S).group(1)
exec(compile(snippet, "README.md (memsim snippet)", "exec"))
api = re.search(r"The same from Python.*?\`\`\`python\n(.*?)\`\`\`", text, re.S).group(1)
exec(compile(api, "README.md (Python API snippet)", "exec"))
PY
# without the [opencl] extra, a command that runs kernels says what to install (exit 2), not a traceback
"$tmp/venv/bin/smartmem" zoo export resnext --tiny -o "$tmp" >/dev/null
set +e
msg=$("$tmp/venv/bin/smartmem" run "$tmp/resnext.tiny.onnx" --policy smartmem 2>&1); rc=$?
set -e
[ "$rc" = 2 ] && grep -q "smartmem-sim\[opencl\]" <<<"$msg" || { echo "check_wheel: run without pyopencl gave rc $rc: $msg" >&2; exit 1; }
# with the [opencl] extra: run on an OpenCL device and check against onnxruntime, when the machine has one
"$tmp/venv/bin/pip" install -q "$(ls "$tmp"/dist/*.whl)[opencl]"
if "$tmp/venv/bin/smartmem" devices >/dev/null 2>&1; then
  "$tmp/venv/bin/smartmem" run "$tmp/resnext.tiny.onnx" --policy smartmem --check --quiet
else
  echo "check_wheel: no OpenCL device passes the probe here; skipped smartmem run --check"
fi
echo "check_wheel: the wheel installs and runs the README's main job, memsim snippet and Python API snippet without OpenCL, and with [opencl] runs kernels"
