#!/usr/bin/env bash
# The GPU measurements notes/PERFORMANCE.md still lists as open, in one go (each part fits one 10-minute
# device command on an H100; run them as separate calls if the first is slow):
#   bench   scatnet-bench on the GPU: every front end at 128x3x256x256 and 128x3x32x32, the hybrids' step
#           eager and under torch.compile (reduce-overhead = CUDA graphs, max-autotune); then what
#           Lightning's loop costs per step against a bare loop (scripts/bench_step_overhead.py)
#   run120  the timed 120-epoch CIFAR-sized run of the fast DTCWT hybrid on synthetic data (no download);
#           extra Hydra overrides after the part name, e.g. `run120 fast.compile=reduce-overhead`
# Results: a few files directly under ${OUT:-gpu-results}/ (the device tool returns at most 8). bench.json is
# rewritten after every row, so a part cut off by the time limit still returns what it measured
# ("status": "running" or "failed" in the JSON says it is unfinished).
#   usage: scripts/gpu_measure.sh [all|bench|run120] [hydra overrides for run120...]
set -euo pipefail
out=${OUT:-gpu-results}
mkdir -p "$out"
py=${PYTHON:-python3}
part=${1:-all}
[ $# -gt 0 ] && shift
if [ "$part" = all ] || [ "$part" = bench ]; then
  $py -m scatnet.cli.bench --device cuda --compile reduce-overhead max-autotune --out "$out/bench" \
    ${BENCH_ARGS:-} | tee "$out/bench.txt"
  for model in tiny hybrid; do
    $py scripts/bench_step_overhead.py --device cuda --model $model | tee -a "$out/loop.txt"
  done
fi
if [ "$part" = all ] || [ "$part" = run120 ]; then
  runs=${RUNS_DIR:-/tmp/scatnet-gpu-runs}  # checkpoints stay off $OUT
  start=$SECONDS
  SCATNET_OUTPUTS="$runs" $py -m scatnet data=synthetic_cifar frontend=dtcwt_fast trainer=gpu logger=csv \
    progress_bar=false "hydra.run.dir=$runs/fast120" "$@" | tail -1 | tee "$out/run120.txt"
  echo "whole command, Python start to exit (the target counts this): $((SECONDS - start)) s" | tee -a "$out/run120.txt"
  cp "$runs/fast120/metrics.json" "$out/metrics120.json"
fi
