#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one go (CI has none, so these run wherever one is lent):
#
#   bash benchmarks/cuda_checks.sh [LOGDIR] [SECTION...]
#
# SECTION: tests (CPU/CUDA parity tests), detector (detector_speed.py on cuda: end to end,
# model only, GPU utilisation, peak memory), kernels (change_kernel.py: CPU rows and the CUDA
# rows), e2e (change_e2e.py, --device cpu and cuda on one pair), train (a short mixed-precision
# training run on a small chip cache: steps/s and chips/s), demo (posturewatch demo --device cuda).
# Default: all, in that order.
# Each section has its own time limit, logs to LOGDIR/SECTION.log and cannot stop the next.
set -u
LOG=${1:-${OUT:-/tmp/pw_cuda}}
shift || true
SECTIONS=${*:-tests detector kernels e2e train demo}
mkdir -p "$LOG"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then  # a machine with no package index: the geo stack travels as wheels
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$LOG/env.log"
python3 -c "import os, torch, numba, rasterio, geopandas, pyogrio, cv2; \
print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), \
'| numba', numba.__version__, '| rasterio', rasterio.__version__, '| cpus', os.cpu_count())" \
  | tee -a "$LOG/env.log" || exit 1

section() {  # name, time limit in seconds, command...
  local name=$1 limit=$2
  shift 2
  echo "=== $name ($(date +%T), limit ${limit}s): $*"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$LOG/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$LOG/$name.log"
  echo "=== $name: exit $rc after $((SECONDS - t0)) s"
}

for s in $SECTIONS; do
  case $s in
    tests) section tests 150 python3 -m pytest -q -p no:cacheprovider -rs \
             tests/test_change_kernels.py tests/test_change_pixel.py tests/test_detect_infer.py \
             tests/test_state_net.py tests/test_state_pair.py -k "cuda or gpu" ;;
    detector) section detector 200 python3 benchmarks/detector_speed.py --device cuda --side 8192 \
                --repeat 3 --memory-sides 4096,8192 ;;
    detector32) section detector32 150 python3 benchmarks/detector_speed.py --device cuda --side 8192 \
                  --repeat 3 --batch-size 32 --memory-sides "" ;;
    kernels) section kernels 150 python3 benchmarks/change_kernel.py --size 8192 --repeat 3 ;;
    e2e) section e2e 200 python3 benchmarks/change_e2e.py --size 10000 --repeat 1 --devices cpu,cuda ;;
    train) section train 200 python3 benchmarks/train_speed.py --device cuda --steps 300 ;;
    demo) section demo 200 bash -c 'T0=$SECONDS; python3 -m detect demo --out /tmp/pw_demo --device cuda \
            && echo "demo wall $((SECONDS - T0)) s" && python3 -c "import glob, json; \
r = json.load(open(sorted(glob.glob(\"/tmp/pw_demo/**/report.json\", recursive=True))[0])); \
print(json.dumps({k: r.get(k) for k in (\"posture_score\", \"timings\")}, indent=1))"' ;;
    *) echo "unknown section $s" ;;
  esac
done
