#!/usr/bin/env bash
# Run one sweep as N processes spread over the visible GPUs (several per GPU when runs are small: the CIFAR
# hybrid uses a fraction of a modern GPU). Each process takes every N-th job (sweep.shard / num_shards);
# completed runs are skipped, so the script can be relaunched after a crash.
#
#   scripts/sweep_parallel.sh N_PROCESSES [hydra overrides...]
#   scripts/sweep_parallel.sh 8 sweep=table14 data=cifar10          # e.g. 2 GPUs x 4 runs each
set -euo pipefail
n=${1:?usage: scripts/sweep_parallel.sh N_PROCESSES [overrides...]}; shift
gpus=$(nvidia-smi --list-gpus 2>/dev/null | wc -l || true)
[ "${gpus:-0}" -gt 0 ] || gpus=1
bin=$(dirname "$0")/../.venv/bin/scatnet-train
[ -x "$bin" ] || bin=scatnet-train
mkdir -p outputs/logs
pids=()
for ((i = 0; i < n; i++)); do
  CUDA_VISIBLE_DEVICES=$((i % gpus)) "$bin" -m "$@" sweep.shard=$i sweep.num_shards=$n progress_bar=false \
    > "outputs/logs/shard-$i.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
echo "sweep_parallel: $n shards finished (logs in outputs/logs/); exit $status"
exit $status
