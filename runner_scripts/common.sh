# Shared by the runner scripts (sourced, not run): command printing, dry runs, the Python and the launcher.
#   DRY_RUN=1      print every command, run none
#   PYTHON         interpreter (default: .venv/bin/python when present, else python3)
#   LAUNCHER=slurm multiruns go through the SLURM launcher preset (configs/hydra/launcher/slurm.yaml): LAUNCH holds
#                  the Hydra argument to add (empty for the default, local launcher)
# Callers set USAGE and cd to the repository root first.

PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
DRY_RUN=${DRY_RUN:-0}
LAUNCHER=${LAUNCHER:-local}

usage() {  # usage [message]: the message, the usage line, exit 2
    [ $# -eq 0 ] || echo "error: $*" >&2
    echo "usage: $USAGE" >&2
    exit 2
}

run() {  # print the command (shell-quoted, so it can be pasted), then run it unless DRY_RUN=1
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    [ "$DRY_RUN" = 1 ] || "$@"
}

# The Hydra arguments that pick the launcher of a multirun.
case "$LAUNCHER" in
    local) LAUNCH=() ;;
    slurm) LAUNCH=(hydra/launcher=slurm) ;;
    *) echo "error: LAUNCHER must be local or slurm, got '$LAUNCHER'" >&2; exit 2 ;;
esac

demo_for_seed() {  # demo_for_seed <seed> <folder>: runner_scripts/demo.sh for one seed (finished stages are skipped)
    echo "=== seed $1: the demo ($2)"
    if [ "$DRY_RUN" = 1 ]; then
        echo "+ SEED=$1 OUT=$2 bash runner_scripts/demo.sh"
    else
        SEED=$1 OUT=$2 PYTHON=$PYTHON bash runner_scripts/demo.sh
    fi
}

evaluate_reranked() {  # evaluate_reranked <run> <demo folder> <seed> <output dir> [overrides ...]: a run's policy
    # evaluated as the demo evaluates its methods (EVAL_PROBLEMS, EVAL_SAMPLES), reranked by the seed's AIRL reward
    local run_dir=$1 out=$2 seed=$3 eval_dir=$4
    shift 4
    run "$PYTHON" evaluate.py policy="$run_dir/final" \
        reward_model_path="$out/demo_airl-s$seed/reward_model" num_problems="$EVAL_PROBLEMS" \
        sampling.num_samples="$EVAL_SAMPLES" sampling.max_new_tokens=48 "ks=[1,$EVAL_SAMPLES]" progress=false \
        output_dir="$eval_dir" "$@"
}

demo_runner_settings() {  # the defaults of the runners that extend the demo (demo_ablations.sh, demo_verifier_free.sh)
    OUT_PREFIX=${OUT_PREFIX:-outputs/demo}
    METHOD_STEPS=${METHOD_STEPS:-100}
    EVAL_PROBLEMS=${EVAL_PROBLEMS:-200}
    EVAL_SAMPLES=${EVAL_SAMPLES:-8}
    ARTIFACTS=${ARTIFACTS:-artifacts}
    THREADS=${THREADS:-$(nproc 2>/dev/null || echo 2)}
}

for_each_demo() {  # for_each_demo <function>: for every seed of SEEDS its demo (demo_for_seed, finished stages
    # skipped), then <function> <seed> <folder> with `common` holding the seed's overrides; DEMOS lists the folders
    export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS WANDB_MODE=${WANDB_MODE:-disabled}
    DEMOS=()
    local seed out
    for seed in $SEEDS; do
        out="$OUT_PREFIX-s$seed"
        DEMOS+=("$out")
        demo_for_seed "$seed" "$out"
        common=(seed="$seed" output_root="$out" artifacts_dir="$ARTIFACTS")
        "$1" "$seed" "$out"
    done
}
