#!/usr/bin/env bash
# The GPU measurements notes/PERFORMANCE.md still lists as open, in one go (about 10 minutes on an H100):
# scatnet-bench (CPU + GPU rows) and the timed 120-epoch CIFAR-sized run of the fast DTCWT hybrid on
# synthetic data (no download needed). Results under ${OUT:-gpu-results}/.
set -euo pipefail
out=${OUT:-gpu-results}
mkdir -p "$out"
py=${PYTHON:-python3}
$py -m scatnet.cli.bench --device all --out "$out/bench" ${BENCH_ARGS:-} | tee "$out/bench.txt"
SCATNET_OUTPUTS="$out/runs" $py -m scatnet data=synthetic_cifar frontend=dtcwt_fast trainer=gpu logger=csv \
  progress_bar=false "hydra.run.dir=$out/runs/fast120" "$@" | tail -1 | tee "$out/run120.txt"
