#!/usr/bin/env bash
# The miniature paper on a CPU (`make demo`): a base policy in two phases (clean SFT: the arithmetic; then SFT
# on a mixture with a habit: the flaw), then SFT / GRPO / AIRL from it with the same number of policy updates,
# evaluation of all four, reranking by the AIRL reward, reward-model diagnostics,
# one table and the figures, all under one output folder.
#
#   bash runner_scripts/demo.sh                 # seed 0, writes outputs/demo-s0/
#   SEED=1 OUT=outputs/demo-s1 bash runner_scripts/demo.sh
#
# Knobs (environment): SEED, OUT, PYTHON, ARTIFACTS (where the tiny models are built), THREADS (torch
# threads per process), BASE_STEPS, HABIT, HABIT_RATE, HABIT_STEPS (the flaw the base is taught: HABIT=slip
# runs the dense-vs-outcome experiment), REWARD_STEPS (the reward backbone's SFT), METHOD_STEPS,
# EVAL_PROBLEMS, EVAL_SAMPLES, IRL_PROBLEMS, and EXTRA (Hydra overrides added to every stage, e.g. a smaller
# dataset for a quick check). A stage whose output is complete is skipped, so an interrupted demo
# continues where it stopped (an evaluation stage runs only while its summary is missing, so it may replace
# the partial files of an interrupted run: overwrite=true); delete OUT to start over.
set -euo pipefail

SEED=${SEED:-0}
OUT=${OUT:-outputs/demo-s${SEED}}
PYTHON=${PYTHON:-.venv/bin/python}
ARTIFACTS=${ARTIFACTS:-artifacts}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 2)}
BASE_STEPS=${BASE_STEPS:-600}
HABIT=${HABIT:-skip_last_step}
HABIT_RATE=${HABIT_RATE:-0.4}
HABIT_STEPS=${HABIT_STEPS:-300}
REWARD_STEPS=${REWARD_STEPS:-1500}
METHOD_STEPS=${METHOD_STEPS:-100}
EVAL_PROBLEMS=${EVAL_PROBLEMS:-200}
EVAL_SAMPLES=${EVAL_SAMPLES:-8}
IRL_PROBLEMS=${IRL_PROBLEMS:-200}
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"

cd "$(dirname "$0")/.."
[ -x "$PYTHON" ] || { echo "error: $PYTHON not found; run 'make install' first (or set PYTHON)" >&2; exit 2; }
USAGE="runner_scripts/demo.sh (settings through the environment, see its header)"
source runner_scripts/common.sh  # run: print a command, then run it
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS WANDB_MODE=${WANDB_MODE:-disabled}
mkdir -p "$OUT"
STARTED=$SECONDS

timed() {  # run one command and say how long it took
    local t0=$SECONDS
    run "$@"
    echo "  ($((SECONDS - t0)) s)"
}

stage() {  # stage <title> <marker file>: 0 if it must run
    echo
    echo "=== $1"
    if [ -e "$2" ]; then echo "  done already ($2); skipped"; return 1; fi
    return 0
}

COMMON=(seed="$SEED" output_root="$OUT" artifacts_dir="$ARTIFACTS" "${EXTRA_ARGS[@]}")
# The evaluations read each run's own config.yaml; training-only overrides stay with the training stages.
EVAL_COMMON=(seed="$SEED" output_root="$OUT" artifacts_dir="$ARTIFACTS")
for arg in "${EXTRA_ARGS[@]}"; do
    case "$arg" in training.*|method.*|sampling.*|model.*|reward_model.*|logging.*|run_name=*) ;; *) EVAL_COMMON+=("$arg") ;; esac
done

if stage "1/6 tiny tokenizer and models (Qwen2 architecture)" "$ARTIFACTS/tiny-qwen2-reward/config.json"; then
    [ -e "$ARTIFACTS/tiny-qwen2-policy/config.json" ] ||
        timed "$PYTHON" -m reasoning_irl.models.tiny --out "$ARTIFACTS/tiny-qwen2-policy" --preset policy
    timed "$PYTHON" -m reasoning_irl.models.tiny --out "$ARTIFACTS/tiny-qwen2-reward" --preset reward
fi

if stage "2/6 base policy (clean SFT, then SFT with the habit) and reward backbone (longer SFT on the expert traces)" "$OUT/demo_reward_base-s$SEED/final/run_info.json"; then
    [ -e "$OUT/demo_base-s$SEED/final/run_info.json" ] ||
        timed "$PYTHON" sft_train.py experiment=demo_base training.max_steps="$BASE_STEPS" "${COMMON[@]}"
    [ -e "$OUT/demo_habit-s$SEED/final/run_info.json" ] ||
        timed "$PYTHON" sft_train.py experiment=demo_habit training.max_steps="$HABIT_STEPS" \
            dataset.habit="$HABIT" dataset.habit_rate="$HABIT_RATE" "${COMMON[@]}"
    timed "$PYTHON" sft_train.py experiment=demo_reward_base training.max_steps="$REWARD_STEPS" "${COMMON[@]}"
fi

declare -A SCRIPT=([sft]=sft_train.py [grpo]=train.py [airl]=irl_train.py)
for method in sft grpo airl; do
    if stage "3/6 $method from the base ($METHOD_STEPS policy updates)" "$OUT/demo_$method-s$SEED/final/run_info.json"; then
        timed "$PYTHON" "${SCRIPT[$method]}" experiment=demo_$method training.max_steps="$METHOD_STEPS" "${COMMON[@]}"
    fi
done

REWARD="$OUT/demo_airl-s$SEED/reward_model"
KS="1,$EVAL_SAMPLES"
[ "$EVAL_SAMPLES" -le 4 ] || KS="1,4,$EVAL_SAMPLES"
declare -A POLICY=([base]=demo_habit [sft]=demo_sft [grpo]=demo_grpo [airl]=demo_airl)
for method in base sft grpo airl; do
    if stage "4/6 evaluate $method: greedy, pass@k over $EVAL_SAMPLES samples, rerank by the AIRL reward" "$OUT/eval/$method/eval_summary.json"; then
        timed "$PYTHON" evaluate.py policy="$OUT/${POLICY[$method]}-s$SEED/final" \
            reward_model_path="$REWARD" num_problems="$EVAL_PROBLEMS" sampling.num_samples="$EVAL_SAMPLES" \
            sampling.max_new_tokens=48 "ks=[$KS]" progress=false \
            output_dir="$OUT/eval/$method" overwrite=true "${EVAL_COMMON[@]}"
    fi
done

if stage "5/6 reward-model diagnostics: experts vs perturbed copies, first-error localisation" "$OUT/eval_irl/irl_diagnostics.json"; then
    timed "$PYTHON" evaluate_irl.py reward_model_path="$REWARD" num_problems="$IRL_PROBLEMS" \
        samples_from="$OUT/eval/base/eval_results.jsonl" output_dir="$OUT/eval_irl" overwrite=true "${EVAL_COMMON[@]}"
fi

echo
echo "=== 6/6 table and figures"
FIGURES=("$PYTHON" figures/make_figures.py "$OUT/eval/base" "$OUT/eval/sft" "$OUT/eval/grpo" "$OUT/eval/airl"
         --labels base SFT GRPO AIRL --irl "$OUT/eval_irl" --out "$OUT/figures")
echo "+ ${FIGURES[*]} > $OUT/figures.log"
"${FIGURES[@]}" > "$OUT/figures.log"
tail -n 1 "$OUT/figures.log"
run "$PYTHON" figures/curves.py --run SFT "$OUT/demo_sft-s$SEED" --run GRPO "$OUT/demo_grpo-s$SEED" \
    --run AIRL "$OUT/demo_airl-s$SEED" --habit "$HABIT" --out "$OUT/figures"
echo
"$PYTHON" runner_scripts/demo_report.py "$OUT" --habit "$HABIT" | tee "$OUT/demo_table.md"
echo
echo "demo finished in $((SECONDS - STARTED)) s; table: $OUT/demo_table.md, figures and tokens.html: $OUT/figures/"
