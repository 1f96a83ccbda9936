#!/usr/bin/env bash
# The one-call GPU check: on a machine with Python 3.12, JAX with CUDA,
# Optax, chex, NumPy, SciPy and pytest, and none of TensorFlow, Reverb,
# Launchpad, Acme, rlax, dm-haiku or jmp (the device tool's GPU machines),
# run from the repository root:
#
#   bash scripts/gpu_check.sh OUTPUT_DIR          # the GPU check (470 s budget)
#   bash scripts/gpu_check.sh --cpu OUTPUT_DIR    # its smaller CPU rehearsal
#
# Steps, in this order, each under a time limit, all of them within
# budget_s (470 s on a GPU; not yet timed on one): the core's tests (the pure-JAX ones:
# networks, losses, learner, transfer, model FLOPs, this check);
# benchmarks.learner_throughput for resnet101 in bf16 at batch 256 and 512
# (40 games x 18 actions, MFU against 989 TFLOP/s on an H100/H200); the JAX
# profiler's per-op table of the resnet101 update at batch 256;
# learner_throughput for nature_dqn and resnet_tiny in float32 at batch 32
# and 256 (3 games); the known-answer task learned on the GPU
# (benchmarks.gpu_check: its data made here in NumPy, updates and seconds to
# optimal, 3 seeds); a summary. A step that fails or runs out of time is
# recorded and the next one runs.
#
# --cpu changes sizes only, so that the same steps finish on a 2-core CPU:
# resnet_tiny instead of resnet101 (at batch 8 and 16, 4 games), the small
# networks at batch 8 and 16, the known-answer task on 2,048 transitions
# per game for 100 updates and 1 seed, shorter timed runs, a longer budget.
#
# Output (at most 8 files, the device tool's limit): summary.json, log.txt
# (everything printed), tests.txt, throughput_resnet101.json,
# throughput_small.json, known_answer.json, profile_resnet101.txt and
# profile_resnet101.xplane.pb.gz (the trace, for XProf; left out above
# 15 MiB). In --cpu mode throughput_resnet101.json holds resnet_tiny's
# rows and the profile files are named after resnet_tiny.
#
# Brought wheels, in .whl/ (ignored by git; 3.4 MB), installed into a
# temporary folder put first on PYTHONPATH: dm-haiku 0.0.17 and jmp 0.0.4
# (the networks), dm-env 1.6 (the known-answer chains are dm_env
# environments), ale-py 0.12.1 (imported on the way to the known-answer
# settings, which build on the study's). Downloaded, where pip reaches
# PyPI, with:
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl dm-haiku==0.0.17 jmp==0.0.4 dm-env==1.6 ale-py==0.12.1
#
# With the device tool: run(command="bash scripts/gpu_check.sh $OUT",
# carry=[".whl"], timeout_s=600). The project's files it needs are the
# working tree's (agents/, networks/, environments/, atari_data/,
# builders/, benchmarks/, tests/, pytest.ini), which the tool sends.
set -uo pipefail

usage="usage: bash scripts/gpu_check.sh [--cpu] OUTPUT_DIR"
cpu=0
if [ "${1:-}" = "--cpu" ]; then cpu=1; shift; fi
if [ $# -ne 1 ] || [ -z "${1}" ]; then
  echo "error: expected one output folder, got ${#} argument(s): '${*}'; ${usage}" >&2
  exit 2
fi
case "${1}" in
  -*) echo "error: unknown option '${1}'; ${usage}" >&2; exit 2 ;;
esac
out="${1}"
mkdir -p "${out}" || { echo "error: cannot create the output folder '${out}'" >&2; exit 2; }
if [ -n "$(ls -A "${out}")" ]; then
  echo "error: the output folder '${out}' is not empty; give an empty or new one" >&2
  exit 2
fi
out="$(cd "${out}" && pwd)"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
python="${PYTHON:-python3}"
wheels=(dm_haiku-0.0.17-py3-none-any.whl jmp-0.0.4-py3-none-any.whl
        dm_env-1.6-py3-none-any.whl ale_py-0.12.1-*.whl)
for wheel in "${wheels[@]}"; do
  if ! compgen -G ".whl/${wheel}" >/dev/null; then
    echo "error: .whl/${wheel} is missing; download the wheels as the" \
         "header of scripts/gpu_check.sh says" >&2
    exit 2
  fi
done

if [ "${cpu}" = 1 ]; then
  budget_s=1500
  big=(--sizes resnet_tiny --batch-sizes 8 16 --num-games 4
       --runs 2 --seconds-per-run 0.5)
  small=(--sizes nature_dqn resnet_tiny --batch-sizes 8 16 --num-games 3
         --runs 2 --seconds-per-run 0.5)
  known=(--seeds=0 --transitions_per_game=2048 --num_updates=100
         --eval_every=25 --episodes=2)
  profile=(--profile_size=resnet_tiny --profile_batch=8 --profile_num_games=4)
  caps=(600 300 200 300 300)
else
  budget_s=470
  big=(--sizes resnet101 --batch-sizes 256 512 --runs 3 --seconds-per-run 2)
  small=(--sizes nature_dqn resnet_tiny --batch-sizes 32 256 --num-games 3
         --runs 3 --seconds-per-run 2)
  known=(--seeds=0,1,2)
  profile=()
  caps=(150 210 90 90 120)
fi

scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
step_log="${scratch}/steps.tsv"
start=$(date +%s)
# Compilations are cached on disk, so the profile reuses the throughput
# run's resnet101 executable instead of compiling it again (~65 s on an
# H200); each throughput row's compile_s is measured before that.
export JAX_COMPILATION_CACHE_DIR="${scratch}/jax_cache"
# learner_throughput's parent process starts JAX on the GPU while its child
# measures: without this, the parent would take 75% of the GPU's memory
# first.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export PYTHONUNBUFFERED=1

{
  echo "gpu_check $(date -u +%FT%TZ) on $(uname -n), commit" \
       "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
       "$( [ "${cpu}" = 1 ] && echo '(--cpu: smaller sizes)')"
  nvidia-smi 2>/dev/null || echo "nvidia-smi: none"
  "${python}" -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --target "${scratch}/site" .whl/dm_haiku-0.0.17-py3-none-any.whl \
    .whl/jmp-0.0.4-py3-none-any.whl .whl/dm_env-1.6-py3-none-any.whl \
    .whl/ale_py-0.12.1-*.whl || { echo "error: installing the wheels failed"; exit 3; }
  export PYTHONPATH="${scratch}/site:${repo_root}${PYTHONPATH:+:${PYTHONPATH}}"

  # run_step NAME CAP COMMAND...: runs COMMAND under the smaller of CAP and
  # the time left, and logs its exit status (124: out of time) and seconds.
  run_step() {
    local name="$1" cap="$2" left step_start status
    shift 2
    left=$(( budget_s - ($(date +%s) - start) - 15 ))
    if [ "${left}" -lt 20 ]; then
      echo "=== ${name}: skipped, no time left"
      printf '%s\tskipped\t0\n' "${name}" >> "${step_log}"
      return
    fi
    [ "${cap}" -lt "${left}" ] && left="${cap}"
    echo "=== ${name} (at most ${left} s): $*"
    step_start="${EPOCHREALTIME}"
    timeout --kill-after=10 "${left}" "$@"
    status=$?
    printf '%s\t%s\t%s\n' "${name}" "${status}" \
      "$(awk "BEGIN {print ${EPOCHREALTIME} - ${step_start}}")" >> "${step_log}"
    echo "=== ${name}: exit status ${status}"
  }

  run_step tests "${caps[0]}" bash -c "set -o pipefail; '${python}' -m pytest -q \
    -p no:cacheprovider tests/test_networks.py tests/test_value_losses.py \
    tests/test_learner.py tests/test_losses.py tests/test_transfer.py \
    tests/test_model_flops.py tests/test_gpu_check.py 2>&1 | tee '${out}/tests.txt'"
  run_step throughput_big "${caps[1]}" "${python}" -m benchmarks.learner_throughput \
    --dtype bfloat16 "${big[@]}" --json "${out}/throughput_resnet101.json"
  # Right after the throughput run, whose executable it reuses.
  run_step profile "${caps[2]}" "${python}" -m benchmarks.gpu_check \
    --output_dir="${out}" --steps=profile ${profile[@]+"${profile[@]}"}
  run_step throughput_small "${caps[3]}" "${python}" -m benchmarks.learner_throughput \
    --dtype float32 "${small[@]}" --json "${out}/throughput_small.json"
  run_step known_answer "${caps[4]}" "${python}" -m benchmarks.gpu_check \
    --output_dir="${out}" --steps=known_answer "${known[@]}"
  "${python}" -m benchmarks.gpu_check --output_dir="${out}" --steps=summary \
    --step_log="${step_log}"
  echo "=== steps (name, exit status, seconds):"
  cat "${step_log}"
  echo "=== done in $(( $(date +%s) - start )) s; files:"
  ls -l "${out}"
} 2>&1 | tee "${out}/log.txt"
# The check's own status: 0 when every step ran and exited 0.
if [ ! -s "${step_log}" ] || grep -qv $'\t0\t' "${step_log}"; then exit 1; fi
