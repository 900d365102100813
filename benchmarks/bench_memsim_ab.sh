#!/usr/bin/env bash
# memsim's benchmark on a baseline checkout and on this tree, taking turns (base, new, base, new, ...), so that
# both see the same host in the same minutes. Usage:
#   git archive <baseline-commit> memsim benchmarks | tar -x -C .cache/benchbase     # a baseline of memsim
#   bash benchmarks/bench_memsim_ab.sh .cache/benchbase OUT_DIR [TURNS] [bench_memsim.py options...]
# Writes OUT_DIR/base_N.txt and OUT_DIR/new_N.txt; compare their rows side by side.
set -euo pipefail
base=$1 out=$2 turns=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
py=$(command -v "${PYTHON:-python3}")
mkdir -p "$out"
for i in $(seq 1 "$turns"); do
  (cd "$base" && "$py" benchmarks/bench_memsim.py "$@") > "$out/base_$i.txt" 2>&1
  "$py" benchmarks/bench_memsim.py "$@" > "$out/new_$i.txt" 2>&1
done
