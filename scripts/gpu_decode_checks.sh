#!/usr/bin/env bash
# Issue 17's GPU checks in stages, each bounded to fit a 10-minute device call:
#   bash scripts/gpu_decode_checks.sh tests            # GPU correctness/probe tests on tiny-llama (xdist -n 4)
#   bash scripts/gpu_decode_checks.sh bench-graphs     # llama-3.2-1b: eager, static-cudagraphs, reference-cudagraphs
#   bash scripts/gpu_decode_checks.sh bench-autotune   # llama-3.2-1b: static-max-autotune, reference-max-autotune
#   bash scripts/gpu_decode_checks.sh bench-sizes      # tiny-llama: sizes 1,2,4,8 ahead, both cudagraph modes
#   bash scripts/gpu_decode_checks.sh run              # ragperf run --suite decode --device cuda (tiny-llama, bs 1)
# Extra arguments go to the benchmark (e.g. --device cpu --decoder tiny-llama to try a stage on a CPU).
# Results land in ${OUT:-./gpu-out}; the exit status is the stage's (1: a check failed, 2: bad input / no CUDA).
set -uo pipefail
stage=${1:?"stage: tests | bench-graphs | bench-autotune | bench-sizes | run"}; shift
out=${OUT:-./gpu-out}; mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
"$py" -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), 'transformers', transformers.__version__)"
case "$stage" in
  tests)
    timeout 560 "$py" -m pytest -q -p no:cacheprovider -m gpu -n "${WORKERS:-4}" -ra \
      tests/correctness/test_static_decode.py tests/correctness/test_reference_decoder.py \
      tests/correctness/test_ragged_decode.py tests/correctness/test_decode_sizes.py \
      tests/correctness/test_sync_free_decode.py tests/harness/compile/test_cudagraph_probe.py \
      --ragperf-decode-sizes 1,2,4,8 --junitxml="$out/gpu-tests.xml" "$@" ;;
  bench-graphs)
    timeout 560 "$py" -m ragperf.jobs gpu-bench --decoder llama-3.2-1b --budget-s 420 \
      --modes eager,static-cudagraphs,reference-cudagraphs --json "$out/bench-graphs.json" "$@" ;;
  bench-autotune)
    timeout 560 "$py" -m ragperf.jobs gpu-bench --decoder llama-3.2-1b --budget-s 300 \
      --modes static-max-autotune,reference-max-autotune --json "$out/bench-autotune.json" "$@" ;;
  bench-sizes)
    timeout 560 "$py" -m ragperf.jobs gpu-bench --decoder tiny-llama --sizes 1,2,4,8 --budget-s 420 \
      --modes static-cudagraphs,reference-cudagraphs --json "$out/bench-sizes.json" "$@" ;;
  run)
    timeout 560 "$py" -m ragperf.cli run --suite decode --device cuda --decoder tiny-llama --quick --batch-sizes 1 \
      --out "$out/run" "$@" ;;
  *) echo "unknown stage $stage: tests | bench-graphs | bench-autotune | bench-sizes | run" >&2; exit 2 ;;
esac
status=$?
[ "$status" = 124 ] && echo "stage $stage: TIMED OUT at 560 s (the JSON holds the modes that finished)"
exit "$status"
