#!/usr/bin/env bash
# One device call that measures this tree against an older one (A/B) on the same machine start, then PyTorch
# eager: numba is warmed for both trees at once (CPU only), then the GPU runs one tree at a time.
#   device tool, carry [".whl", ".cache/old.tgz"] where .cache/old.tgz is
#   `git archive --prefix=old/ OLD smartmem_sim scripts pyproject.toml setup.cfg ':!smartmem_sim/zoo/models' | gzip`:
#   OUT=$OUT/r POLICIES=naive,fusion,smartmem BUDGET_S=200 TORCH="resnext convnext" bash scripts/device/ab_models.sh resnext convnext
# Writes $OUT/new/ and $OUT/old/ (h100_models.sh's CSV and log each) and $OUT/torch_eager.csv (when TORCH is set).
set -u
OUT=${OUT:-out}
source scripts/device/opencl-env.sh
mkdir -p "$OUT"
tar -xzf .cache/old.tgz -C /tmp && cp -r smartmem_sim/zoo/models /tmp/old/smartmem_sim/zoo/ && cp -r .whl /tmp/old/
t0=$(date +%s)
(cd /tmp/old && python3 -m smartmem_sim.warm > "$OUT/warm_old.log" 2>&1) &
python3 -m smartmem_sim.warm > "$OUT/warm_new.log" 2>&1
wait
echo "numba warmed for both trees in $(( $(date +%s) - t0 ))s"
OUT="$OUT/new" bash scripts/device/h100_models.sh "$@" | tail -n 20
(cd /tmp/old && OUT="$OUT/old" bash scripts/device/h100_models.sh "$@" | tail -n 20)
if [ -n "${TORCH:-}" ]; then python3 scripts/device/torch_eager.py --out "$OUT/torch_eager.csv" $TORCH 2>&1 | tail -n 8; fi
tar -czf "$OUT.tgz" -C "$(dirname "$OUT")" "$(basename "$OUT")"
