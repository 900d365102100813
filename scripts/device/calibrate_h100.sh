#!/usr/bin/env bash
# Calibrate a memsim profile on the lent NVIDIA H100 and validate it, in one device call.
# Device tool (`run`, kind nvidia-h100-x1, carry [".whl"]):
#   source scripts/device/opencl-env.sh && OUT=$OUT bash scripts/device/calibrate_h100.sh
# Writes under $OUT: h100_opencl_calibrated.{toml,csv} (profile with its [execution] table, raw
# microbenchmark rows), validate.csv / validate.png / validate.txt (kernel matrix) and log.txt.
set -u
OUT=${OUT:?set OUT to the output folder}
DEVICE=${DEVICE:-NVIDIA}
BASE=${BASE:-h100_opencl}
CAL_BUDGET_S=${CAL_BUDGET_S:-90}
TRAIN=${TRAIN:-resnext}
VAL_BUDGET_S=${VAL_BUDGET_S:-200}
MODELS=${MODELS:-vit.tiny,swin.tiny,convnext.tiny,sd_text_encoder.tiny,convnext,vit,sd_text_encoder,swin}
NAME=${NAME:-${BASE}_calibrated}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
# `smartmem` with calibrate/validate registered even where smartmem_sim/cli.py does not list them yet
smartmem() {
  python3 -c 'import sys; from smartmem_sim import cli
m = cli.COMMAND_MODULES; cli.COMMAND_MODULES = m + tuple(c for c in ("calibrate", "validate") if c not in m)
sys.exit(cli.main(sys.argv[1:]))' "$@"
}
{
  echo "== $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') device '$DEVICE'"
  nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv 2>/dev/null || true
  time smartmem calibrate --device-name "$DEVICE" --base "$BASE" --name "$NAME" -o "$OUT" \
    --budget-s "$CAL_BUDGET_S" --train-models "$TRAIN"
  time smartmem validate --device-name "$DEVICE" --profile "$OUT/$NAME.toml" --models "$MODELS" \
    --budget-s "$VAL_BUDGET_S" --csv "$OUT/validate.csv" --plot "$OUT/validate.png" --report "$OUT/validate.txt"
} 2>&1 | tee "$OUT/log.txt"
