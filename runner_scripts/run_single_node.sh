#!/usr/bin/env bash
# Run one entry script on one node, pinned to GPUs, a NUMA node and a thread count taken from the environment.
#   runner_scripts/run_single_node.sh <entry script> [hydra overrides ...]
#   GPUS=0,1 NUM_PROCESSES=2 NUMA_NODE=0 THREADS=16 runner_scripts/run_single_node.sh irl_train.py experiment=tiny_airl
# Environment (all optional):
#   GPUS                CUDA_VISIBLE_DEVICES of the run (unset: inherited)
#   NUM_PROCESSES       > 1: `accelerate launch` with that many processes, one per GPU (default 1: plain python)
#   ACCELERATE_CONFIG   accelerate config for NUM_PROCESSES > 1 (default configs/accelerate/ddp.yaml)
#   MAIN_PROCESS_PORT   rendezvous port for NUM_PROCESSES > 1 (default 29500; change it for two runs on one node)
#   NUMA_NODE           run under `numactl --cpunodebind=N --membind=N` (a note, and no binding, without numactl)
#   THREADS             OMP_NUM_THREADS and MKL_NUM_THREADS per process (default: CPUs / NUM_PROCESSES);
#                       an OMP_NUM_THREADS or MKL_NUM_THREADS already set wins
#   DRY_RUN=1, PYTHON   see common.sh
# Inside a SLURM allocation this is the way to use several GPUs in one job (the Hydra SLURM launcher runs one
# process per job).
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="runner_scripts/run_single_node.sh <entry script: irl_train.py | sft_train.py | train.py | evaluate.py | evaluate_irl.py> [overrides ...]"
source runner_scripts/common.sh

[ $# -ge 1 ] || usage "missing the entry script"
ENTRY=$1
shift
[ -f "$ENTRY" ] || usage "no entry script '$ENTRY'"
NUM_PROCESSES=${NUM_PROCESSES:-1}
[[ "$NUM_PROCESSES" =~ ^[1-9][0-9]*$ ]] || usage "NUM_PROCESSES must be a positive integer, got '$NUM_PROCESSES'"

if [ -n "${GPUS:-}" ]; then
    export CUDA_VISIBLE_DEVICES=$GPUS
fi
CPUS=$(nproc 2>/dev/null || echo 1)
THREADS=${THREADS:-$(( CPUS / NUM_PROCESSES > 0 ? CPUS / NUM_PROCESSES : 1 ))}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$THREADS}
export MKL_NUM_THREADS=${MKL_NUM_THREADS:-$OMP_NUM_THREADS}
echo "+ export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-<inherited>} OMP_NUM_THREADS=$OMP_NUM_THREADS MKL_NUM_THREADS=$MKL_NUM_THREADS"

PIN=()
if [ -n "${NUMA_NODE:-}" ]; then
    if command -v numactl >/dev/null 2>&1; then
        PIN=(numactl "--cpunodebind=$NUMA_NODE" "--membind=$NUMA_NODE")
    else
        echo "note: numactl not found; NUMA_NODE=$NUMA_NODE ignored" >&2
    fi
fi

if [ "$NUM_PROCESSES" -gt 1 ]; then
    run "${PIN[@]}" "$PYTHON" -m accelerate.commands.launch \
        --config_file "${ACCELERATE_CONFIG:-configs/accelerate/ddp.yaml}" --num_processes "$NUM_PROCESSES" \
        --main_process_port "${MAIN_PROCESS_PORT:-29500}" "$ENTRY" "$@"
else
    run "${PIN[@]}" "$PYTHON" "$ENTRY" "$@"
fi
