#!/usr/bin/env bash
# One device call: `smartmem run --check` on full-size zoo models under $POLICIES (default naive,fusion,smartmem;
# search prices its layouts with the simulator of the device's profile, h100_opencl on an H100) on the
# OpenCL device whose name contains $DEVICE (default NVIDIA), all policies of a model in one process (same
# inputs, weights and device, so their times compare), each plan run $REPEAT times (median reported).
# Writes $OUT/h100_models.csv (model, policy, storage, device, kernels, total_device_ms, repeat,
# max_rel_error, pass) and $OUT/h100_models.log (every kernel's time, every check).
#
#   device tool, carry [".whl"]:  source scripts/device/opencl-env.sh && bash scripts/device/h100_models.sh
#   here, on PoCL with tiny twins: PYTHON=.venv/bin/python DEVICE=pocl TINY=1 OUT=/tmp/h100 bash scripts/device/h100_models.sh
#
# TEXEL_REUSE (on, off; default: auto, the device profile's [execution] texel_reuse) is passed to --texel-reuse.
# BUDGET_S (default 500) bounds the whole call: each model gets what is left (less a margin), and a
# model that runs out of time is recorded in the log as timed out, without a row. Models run cheapest first.
set -u
OUT=${OUT:-out}
DEVICE=${DEVICE:-NVIDIA}
REPEAT=${REPEAT:-3}
POLICIES=${POLICIES:-naive,fusion,smartmem}
BUDGET_S=${BUDGET_S:-500}
SUFFIX=$([ "${TINY:-0}" = 1 ] && echo .tiny || echo "")
MODELS=${*:-resnext convnext vit sd_text_encoder swin}
PY=${PYTHON:-python3}
mkdir -p "$OUT/parts"
LOG="$OUT/h100_models.log"
: > "$LOG"
start=$(date +%s)
for m in $MODELS; do
  left=$(( BUDGET_S - ($(date +%s) - start) - 10 ))
  if [ "$left" -lt 20 ]; then echo "== $m: skipped, no time left" | tee -a "$LOG"; continue; fi
  echo "== $m (time left ${left}s)" | tee -a "$LOG"
  t0=$(date +%s)
  timeout "$left" "$PY" -m smartmem_sim.cli run "smartmem_sim/zoo/models/$m$SUFFIX.onnx" \
      --policy "$POLICIES" --device-name "$DEVICE" --check --repeat "$REPEAT" \
      --csv "$OUT/parts/$m.csv" --texel-reuse "${TEXEL_REUSE:-auto}" >> "$LOG" 2>&1
  rc=$?
  echo "== $m: exit status $rc after $(( $(date +%s) - t0 ))s$([ $rc = 124 ] && echo ' (timed out)')" | tee -a "$LOG"
done
# one CSV: the header once, then every model's rows
first=1
for m in $MODELS; do
  f="$OUT/parts/$m.csv"
  [ -f "$f" ] || continue
  if [ $first = 1 ]; then cat "$f"; first=0; else tail -n +2 "$f"; fi
done > "$OUT/h100_models.csv.tmp" && mv "$OUT/h100_models.csv.tmp" "$OUT/h100_models.csv"
rm -rf "$OUT/parts"
grep -E "^(total:|check |note:|[a-z0-9_.]+\.onnx  policy)" "$LOG"
cat "$OUT/h100_models.csv"
