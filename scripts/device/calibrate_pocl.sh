#!/usr/bin/env bash
# Calibrate and validate on PoCL (the CPU OpenCL device here); same steps as calibrate_h100.sh, smaller.
#   OUT=experiments/results/calibration/pocl bash scripts/device/calibrate_pocl.sh
set -u
export DEVICE=${DEVICE:-pocl} BASE=${BASE:-pocl_cpu} CAL_BUDGET_S=${CAL_BUDGET_S:-60} TRAIN=${TRAIN:-resnext.tiny}
export VAL_BUDGET_S=${VAL_BUDGET_S:-400} MODELS=${MODELS:-vit.tiny,swin.tiny,convnext.tiny,sd_text_encoder.tiny}
[ -x .venv/bin/python ] && export PATH="$PWD/.venv/bin:$PATH" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec bash "$(dirname "$0")/calibrate_h100.sh"
