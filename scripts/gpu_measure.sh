#!/usr/bin/env bash
# The GPU measurements docs/PERFORMANCE.md still lists as open. Parts (each fits one 10-minute device
# command on an H100; name several, comma-separated, to run them in one call):
#   gpu-tests  the tests that need a GPU (tests/test_cuda_graph.py: graphed training = eager training)
#   bench      scatnet-bench on the GPU: every front end at 128x3x256x256 and 128x3x32x32, and the hybrids'
#              training step eager, under torch.compile(mode="reduce-overhead") (CUDA graphs of the compiled
#              parts) and eager with its forward/backward in CUDA graphs (fast.cuda_graph)
#   autotune   the DTCWT hybrids' step under torch.compile(mode="max-autotune") (its own part: autotuning
#              can take minutes), with the thesis-default front-end rows it needs for context
#   loop       what Lightning's loop costs per step against a bare loop (scripts/bench_step_overhead.py)
#   morlet-ways  the fast Morlet at 128x3x256x256 with fp32 averaging as separable products and the FFT way
#              (scripts/morlet_lowpass_ways.py: the GPU takes the FFT way on a prediction), then its forward
#              split into FFTs, products and the rest beside kymatio's (scripts/morlet_time_split.py)
#   run120     the timed 120-epoch CIFAR-sized run of the fast DTCWT hybrid on synthetic data (no download);
#              extra Hydra overrides after the parts, e.g. `run120 fast.cuda_graph=true` or
#              `run120 fast.compile=reduce-overhead`
# Results: a few files directly under ${OUT:-gpu-results}/ (the device tool returns at most 8). bench.json is
# rewritten after every row, so a part cut off by the time limit still returns what it measured
# ("status": "running" or "failed" in the JSON says it is unfinished). A failing part does not stop the next.
#   usage: scripts/gpu_measure.sh [all | PART[,PART...]] [hydra overrides for run120...]
#          e.g. scripts/gpu_measure.sh gpu-tests,bench     scripts/gpu_measure.sh run120 fast.cuda_graph=true
# SCATNET_GPU_DRY_RUN=1 runs every part on the CPU at toy sizes (no --cuda-graph, max-autotune -> default):
# a check of this script itself, so a GPU session does not spend its minutes on a broken command
# (tests/test_gpu_measure.py). Its figures mean nothing.
set -euo pipefail
if [ "${SCATNET_GPU_DRY_RUN:-0}" = 1 ]; then
  device=cpu graph="" autotune=default loop_args="--steps 4 --epochs 2 --rounds 1 --batch 8"
  ways_args="--batch 1 --size 128 --repeats 1 --angles 6" split_args="--sizes 32 --batch 2 --repeats 1 --angles 6"
  sizes="--thesis-size 16 --thesis-batch 1 --train-size 16 --train-batch 2 --repeats 1 --warmup 0 --width 4"
  run_args="trainer.accelerator=cpu trainer.max_epochs=1 data.source.n_train=256 data.source.n_test=128 model.width=4"
else
  device=cuda graph=--cuda-graph autotune=max-autotune loop_args="" ways_args="" split_args="" sizes="" run_args=""
fi
out=${OUT:-gpu-results}
mkdir -p "$out"
py=${PYTHON:-python3}
parts=",${1:-all},"
[ $# -gt 0 ] && shift
wants() { [ "$parts" = ",all," ] || [[ "$parts" == *",$1,"* ]]; }
for p in ${parts//,/ }; do
  case $p in all|gpu-tests|bench|autotune|loop|morlet-ways|run120) ;;
    *) echo "gpu_measure.sh: error: unknown part '$p'; parts: all, gpu-tests, bench, autotune, loop," \
            "morlet-ways, run120" >&2; exit 2;;
  esac
done
# The machine and the precision regime training runs in there (scatnet/precision.py), on top of the results
regime() {
  $py -c 'import torch; from scatnet.precision import Precision; c = torch.cuda.is_available()
print("torch", torch.__version__, "CUDA", torch.version.cuda, "on", torch.cuda.get_device_name() if c else "CPU")
print("training precision:", Precision.for_device(c).record())' 2>&1 || true
}
if wants gpu-tests; then
  regime | tee "$out/gpu-tests.txt"
  $py -m pytest -p no:cacheprovider tests/test_cuda_graph.py 2>&1 | tail -15 | tee -a "$out/gpu-tests.txt" || true
fi
if wants bench; then
  $py -m scatnet.cli.bench --device $device --compile reduce-overhead $graph $sizes --out "$out/bench" \
    ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.txt" || true
fi
if wants autotune; then
  $py -m scatnet.cli.bench --device $device --only "thesis default" --compile $autotune $sizes \
    --out "$out/autotune" 2>&1 | tee "$out/autotune.txt" || true
fi
if wants loop; then
  for model in tiny hybrid; do
    $py scripts/bench_step_overhead.py --device $device --model $model $loop_args 2>&1 | tee -a "$out/loop.txt" || true
  done
fi
if wants morlet-ways; then
  $py scripts/morlet_lowpass_ways.py --device $device $ways_args 2>&1 | tee "$out/morlet-ways.txt" || true
  $py scripts/morlet_time_split.py --device $device $split_args 2>&1 | tee -a "$out/morlet-ways.txt" || true
fi
if wants run120; then
  # checkpoints stay off $OUT; a fresh directory per call: the fast.* options are not part of a run's
  # identity, so a second call with other options in the same directory would find the first one completed
  run_dir=${RUNS_DIR:-/tmp/scatnet-gpu-runs}/run120-$(date +%s)
  start=$SECONDS
  SCATNET_OUTPUTS="$run_dir" $py -m scatnet data=synthetic_cifar frontend=dtcwt_fast trainer=gpu logger=csv \
    progress_bar=false "hydra.run.dir=$run_dir" $run_args "$@" | tail -1 | tee "$out/run120.txt"
  echo "whole command, Python start to exit (the target counts this): $((SECONDS - start)) s" | tee -a "$out/run120.txt"
  $py -c 'import json, sys; print("precision:", json.load(open(sys.argv[1])).get("precision"))' \
    "$run_dir/metrics.json" | tee -a "$out/run120.txt" || true
  cp "$run_dir/metrics.json" "$out/metrics120.json"
fi
