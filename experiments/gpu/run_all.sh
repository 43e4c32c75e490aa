#!/usr/bin/env bash
# GPU figures in one go (< 8 minutes on one H200): TopK training tokens/s (d_in 768, 32x, k 32,
# batch 16384, bf16 store and autocast) streaming and device-resident with GPU utilisation; the
# input path's rows/s against the store's raw shuffled read; capture of a ViT-B/16-sized random
# ViT at batch 256 against its forward alone. One JSON line per benchmark on stdout.
#
#   experiments/gpu/run_all.sh            # on the GPU machine
#   experiments/gpu/run_all.sh --cpu      # the same scripts, CPU-sized, so they stay exercised
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
PY="${PYTHON:-python}"
if [[ "${1:-}" == "--cpu" ]]; then
  "$PY" experiments/gpu/train_throughput.py --small --device cpu
  "$PY" experiments/bench/pipeline_bench.py --rows 40000 --d 64 --repeats 1 --device cpu
  "$PY" experiments/bench/capture_bench.py --model random:vit --n 16 --batch-size 8 --reps 1 --device cpu
else
  "$PY" experiments/gpu/train_throughput.py --device cuda
  "$PY" experiments/bench/pipeline_bench.py --rows 2000000 --repeats 2 --device cuda
  "$PY" experiments/bench/capture_bench.py --model random:vit-b --n 1024 --batch-size 256 --reps 2 --device cuda
fi
