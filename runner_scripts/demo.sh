#!/usr/bin/env bash
# The miniature paper on a CPU (`make demo`): a base policy in two phases (clean SFT: the arithmetic; then SFT
# on a mixture with a habit: the flaw), then SFT / GRPO / AIRL from it with the same number of policy updates,
# evaluation of all four, reranking by the AIRL reward, reward-model diagnostics,
# one table and the figures, all under one output folder.
#
#   bash runner_scripts/demo.sh                 # seed 0, writes outputs/demo-s0/
#   SEED=1 OUT=outputs/demo-s1 bash runner_scripts/demo.sh
#
# Stages that do not depend on each other run side by side in LANES processes (default 2: the base policy beside
# the reward backbone; SFT, GRPO and their evaluations beside AIRL and the others), each with THREADS torch threads
# (default: the cores shared out, at least 1) from start to end, so a rerun on the same machine kind reproduces
# the table. With HANDOFF=1, when a lane ends the training runs still going take its threads (each re-reads
# OUT/logs/<lane>.threads before a step): faster, but on a machine whose kernels round differently with another
# thread count the results then depend on when the other lane ended (docs/demo.md). A lane's output is printed when
# its phase ends. The habit stage, which everything after it waits for, runs alone with SOLO_THREADS (default:
# every core). Every phase's output is kept in OUT/logs/. THREADS, when given, sets SOLO_THREADS too.
#
# Knobs (environment): SEED, OUT, PYTHON, ARTIFACTS (where the tiny models are built), LANES, THREADS, HANDOFF, BASE_STEPS, HABIT, HABIT_RATE, HABIT_STEPS (the flaw the base is taught: HABIT=slip
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
LANES=${LANES:-2}
HANDOFF=${HANDOFF:-0}
CORES=$(nproc 2>/dev/null || echo 2)
SOLO_THREADS=${SOLO_THREADS:-${THREADS:-$CORES}}
THREADS=${THREADS:-$(( CORES / LANES > 0 ? CORES / LANES : 1 ))}
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
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS WANDB_MODE=${WANDB_MODE:-disabled}  # lanes' threads
mkdir -p "$OUT/logs"
STARTED=$SECONDS

timed() {  # run one command, say how long it took, return its status
    local t0=$SECONDS rc=0
    run "$@" || rc=$?
    echo "  ($((SECONDS - t0)) s)"
    return $rc
}

stage() {  # stage <title> <marker file>: 0 if it must run
    echo
    echo "=== $1"
    if [ -e "$2" ]; then echo "  done already ($2); skipped"; return 1; fi
    return 0
}

threads() { export OMP_NUM_THREADS=$1 MKL_NUM_THREADS=$1; }

solo() {  # solo <name> <function> [threads]: run a sequence of stages now, its output live and in OUT/logs/
    threads "${3:-$SOLO_THREADS}"
    if ! "$2" 2>&1 | tee "$OUT/logs/$1.log"; then
        echo "error: $1 failed (log: $OUT/logs/$1.log)" >&2
        exit 1
    fi
    threads "$THREADS"
}

declare -A LANE_PID=()
LANE_ORDER=()
lane() {  # lane <name> <function>: run a sequence of stages, in the background when LANES > 1
    if [ "$LANES" -gt 1 ]; then
        echo "$THREADS" > "$OUT/logs/$1.threads"
        if [ "$HANDOFF" = 1 ]; then
            (export REASONING_IRL_THREADS_FILE=$OUT/logs/$1.threads; "$2") > "$OUT/logs/$1.log" 2>&1 &
        else
            "$2" > "$OUT/logs/$1.log" 2>&1 &
        fi
        LANE_PID[$1]=$!
        LANE_ORDER+=("$1")
    else
        solo "$1" "$2" "$THREADS"
    fi
}

join() {  # wait for the lanes of a phase (with HANDOFF=1 handing a finished lane's cores to those still running:
    # a training run re-reads its .threads file before each step); print their output in order; stop if one failed
    local name pid ended rc failed=()
    declare -A running=()
    for name in "${LANE_ORDER[@]}"; do running[${LANE_PID[$name]}]=$name; done
    while [ ${#running[@]} -gt 0 ]; do
        rc=0
        wait -n -p ended "${!running[@]}" || rc=$?
        [ "$rc" = 0 ] || failed+=("${running[$ended]}")
        unset "running[$ended]"
        [ "$HANDOFF" = 1 ] || continue
        for pid in "${!running[@]}"; do
            echo $(( LANES * THREADS / ${#running[@]} )) > "$OUT/logs/${running[$pid]}.threads"
        done
    done
    for name in "${LANE_ORDER[@]}"; do cat "$OUT/logs/$name.log"; done
    LANE_PID=()
    LANE_ORDER=()
    for name in "${failed[@]}"; do echo "error: $name failed (log: $OUT/logs/$name.log)" >&2; done
    [ ${#failed[@]} = 0 ] || exit 1
}

COMMON=(seed="$SEED" output_root="$OUT" artifacts_dir="$ARTIFACTS" "${EXTRA_ARGS[@]}")
# The evaluations read each run's own config.yaml; training-only overrides stay with the training stages.
EVAL_COMMON=(seed="$SEED" output_root="$OUT" artifacts_dir="$ARTIFACTS")
for arg in "${EXTRA_ARGS[@]}"; do
    case "$arg" in training.*|method.*|sampling.*|model.*|reward_model.*|logging.*|run_name=*) ;; *) EVAL_COMMON+=("$arg") ;; esac
done

trained() { echo "$OUT/$1-s$SEED/final/run_info.json"; }  # trained <run>: what a finished training run leaves
tiny() {  # tiny <preset>: a tiny randomly initialised model and its tokenizer, built once into ARTIFACTS
    if stage "1/6 tiny $1 model and tokenizer (Qwen2 architecture)" "$ARTIFACTS/tiny-qwen2-$1/config.json"; then
        timed "$PYTHON" -m reasoning_irl.models.tiny --out "$ARTIFACTS/tiny-qwen2-$1" --preset "$1"
    fi
}
base_lane() {  # the policy's arithmetic: clean SFT
    tiny policy || return
    if stage "2/6 base policy: clean SFT (the arithmetic)" "$(trained demo_base)"; then
        timed "$PYTHON" sft_train.py experiment=demo_base training.max_steps="$BASE_STEPS" "${COMMON[@]}"
    fi
}
reward_lane() {  # the reward backbone: a longer SFT of the smaller model on the expert traces
    tiny reward || return
    if stage "2/6 reward backbone: SFT on the expert traces" "$(trained demo_reward_base)"; then
        timed "$PYTHON" sft_train.py experiment=demo_reward_base training.max_steps="$REWARD_STEPS" "${COMMON[@]}"
    fi
}
habit_stage() {  # the policy's flaw: SFT on a mixture where HABIT_RATE of the targets carry the habit
    if stage "2/6 the habit: SFT with $HABIT in $HABIT_RATE of the targets" "$(trained demo_habit)"; then
        timed "$PYTHON" sft_train.py experiment=demo_habit training.max_steps="$HABIT_STEPS" \
            dataset.habit="$HABIT" dataset.habit_rate="$HABIT_RATE" "${COMMON[@]}"
    fi
}
lane base base_lane
lane reward reward_lane
join
solo habit habit_stage  # alone, with every core: nothing else can run before it ends

declare -A SCRIPT=([sft]=sft_train.py [grpo]=train.py [airl]=irl_train.py)
method() {  # method <name>: train it from the habit base
    if stage "3/6 $1 from the base ($METHOD_STEPS policy updates)" "$(trained "demo_$1")"; then
        timed "$PYTHON" "${SCRIPT[$1]}" experiment=demo_$1 training.max_steps="$METHOD_STEPS" "${COMMON[@]}"
    fi
}

REWARD="$OUT/demo_airl-s$SEED/reward_model"
KS="1,$EVAL_SAMPLES"
[ "$EVAL_SAMPLES" -le 4 ] || KS="1,4,$EVAL_SAMPLES"
declare -A POLICY=([base]=demo_habit [sft]=demo_sft [grpo]=demo_grpo [airl]=demo_airl)
evaluate() {  # evaluate <method>: greedy, pass@k and reranking on the held-out problems
    if stage "4/6 evaluate $1: greedy, pass@k over $EVAL_SAMPLES samples, rerank by the AIRL reward" "$OUT/eval/$1/eval_summary.json"; then
        timed "$PYTHON" evaluate.py policy="$OUT/${POLICY[$1]}-s$SEED/final" \
            reward_model_path="$REWARD" num_problems="$EVAL_PROBLEMS" sampling.num_samples="$EVAL_SAMPLES" \
            sampling.max_new_tokens=48 "ks=[$KS]" progress=false \
            output_dir="$OUT/eval/$1" overwrite=true "${EVAL_COMMON[@]}"
    fi
}
diagnose() {  # the reward model against ground truth, on the base policy's samples too
    if stage "5/6 reward-model diagnostics: experts vs perturbed copies, first-error localisation" "$OUT/eval_irl/irl_diagnostics.json"; then
        timed "$PYTHON" evaluate_irl.py reward_model_path="$REWARD" num_problems="$IRL_PROBLEMS" \
            samples_from="$OUT/eval/base/eval_results.jsonl" output_dir="$OUT/eval_irl" overwrite=true "${EVAL_COMMON[@]}"
    fi
}
# Every evaluation reranks by the AIRL reward, so the methods and the evaluations form one phase: the AIRL lane goes
# on to the evaluations that need nothing else (the base, the diagnostics on its samples, AIRL), while the other lane
# trains SFT and GRPO and then evaluates them, waiting for the reward model only if GRPO ends before AIRL. A lane
# that ends early no longer waits for the slower lane's training before its evaluations start.
AIRL_FAILED="$OUT/logs/airl.failed"
rm -f "$AIRL_FAILED"
await_reward() {  # until the AIRL lane has saved the reward model (or failed)
    until [ -e "$(trained demo_airl)" ]; do
        if [ -e "$AIRL_FAILED" ]; then echo "error: the AIRL run failed: no reward model to rerank by"; return 1; fi
        sleep 2
    done
}
airl_lane() {
    method airl || { touch "$AIRL_FAILED"; return 1; }
    evaluate base && diagnose && evaluate airl
}
sft_grpo_lane() { method sft && method grpo && await_reward && evaluate grpo && evaluate sft; }
lane airl airl_lane  # first: with LANES=1 the lanes run in turn, and the other one needs its reward model
lane sft_grpo sft_grpo_lane
join

echo
echo "=== 6/6 table and figures"
FIGURES=("$PYTHON" figures/make_figures.py "$OUT/eval/base" "$OUT/eval/sft" "$OUT/eval/grpo" "$OUT/eval/airl"
         --labels base SFT GRPO AIRL --irl "$OUT/eval_irl" --out "$OUT/figures")
echo "+ ${FIGURES[*]} > $OUT/figures.log"
"${FIGURES[@]}" > "$OUT/figures.log"
tail -n 1 "$OUT/figures.log"
run "$PYTHON" figures/curves.py --run SFT "$OUT/demo_sft-s$SEED" --run GRPO "$OUT/demo_grpo-s$SEED" \
    --run AIRL "$OUT/demo_airl-s$SEED" --flag "habit/$HABIT" --out "$OUT/figures"
echo
"$PYTHON" runner_scripts/demo_report.py "$OUT" --habit "$HABIT" | tee "$OUT/demo_table.md"
echo
echo "demo finished in $((SECONDS - STARTED)) s; table: $OUT/demo_table.md, figures and tokens.html: $OUT/figures/"
