#!/usr/bin/env bash
# When does learning a reward beat imitation? For every seed, the demo (runner_scripts/demo.sh: bases, the habit,
# SFT / GRPO / AIRL and their evaluation), then the sweeps below from the same habit base with the demo's budget
# (the presets demo_sft / demo_grpo / demo_airl, 100 policy updates each, one setting changed), each run evaluated
# like the methods (reranked by the seed's AIRL reward), then the tables (runner_scripts/sweep_report.py) and the
# figure of pass@1 against the number of demonstrations.
#
#   bash runner_scripts/demo_sweeps.sh                         # seeds 0 1 2, every sweep
#   SWEEPS="demos kl" SEEDS="0" bash runner_scripts/demo_sweeps.sh
#   DRY_RUN=1 bash runner_scripts/demo_sweeps.sh               # print the commands
#
# Sweeps (SWEEPS, space-separated; the demo's own runs are each sweep's default point):
#   demos   SFT and AIRL with DEMO_COUNTS expert demonstrations (method.num_demonstrations; default 16 64 256;
#           the demo's runs use all); AIRL's policy still samples every training prompt
#   early   SFT with DEMO_COUNTS and with all demonstrations, stopped at the update where the same setting's
#           100-update run had its best held-out pass@1 (its training curve on validation problems; run demos first):
#           the imitation baseline with early stopping
#   errors  SFT and AIRL with ERROR_RATES of the demonstrations corrupted (method.expert_error_rate; 0.2 0.4)
#   style   SFT and AIRL with the demonstrations written in STYLES (method.demonstration_style; default compact)
#   kl      GRPO and AIRL with a KL penalty to the base of BETAS (method.beta; default 0.04 0.2 1.0; the demo's
#           GRPO has 0.04 and its AIRL 0.2: a method's own value is its demo run, not trained again)
#   lr      GRPO and AIRL at the policy learning rates LRS (training.learning_rate; default 2e-4, the demo's 5e-4;
#           likewise)
#   longer  the demo's four policies evaluated on held-out problems one step longer than any training problem
#           (dataset.min_steps = dataset.max_steps = 3; training problems have 2), 64 new tokens
# Knobs (environment): SEEDS, SWEEPS, the lists above, JOBS (runs side by side, default 2) with THREADS torch
# threads each (default: the cores shared out, at least 1; the demo trains each method on one thread beside
# another), OUT_PREFIX (each seed's demo folder <OUT_PREFIX>-s<seed>/, default outputs/demo), and every knob of
# demo.sh. A finished run or evaluation is skipped; a failed one is reported as such and the others go on. Each
# job's output is kept in <demo>/logs/sweep_<name>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="runner_scripts/demo_sweeps.sh (settings through the environment, see its header)"
source runner_scripts/common.sh

SEEDS=${SEEDS:-0 1 2}
SWEEPS=${SWEEPS:-demos early errors style kl lr longer}
DEMO_COUNTS=${DEMO_COUNTS:-16 64 256}
ERROR_RATES=${ERROR_RATES:-0.2 0.4}
STYLES=${STYLES:-compact}
BETAS=${BETAS:-0.04 0.2 1.0}
LRS=${LRS:-2e-4}
JOBS=${JOBS:-2}
CORES=$(nproc 2>/dev/null || echo 2)
JOB_THREADS=${THREADS:-$(( CORES / JOBS > 0 ? CORES / JOBS : 1 ))}
demo_runner_settings
LONGER_STEPS=3

declare -A SCRIPT=([sft]=sft_train.py [grpo]=train.py [airl]=irl_train.py)
declare -A SWEPT_KEY=([kl]=method.beta [lr]=training.learning_rate) OWN=()
KEYS=()
for sweep in $SWEEPS; do [ -z "${SWEPT_KEY[$sweep]:-}" ] || KEYS+=("$sweep=${SWEPT_KEY[$sweep]}"); done
if [ ${#KEYS[@]} -gt 0 ]; then  # the value the demo's presets give each method for a key its sweep changes
    # One process composes both presets (each Python start that composes one costs seconds).
    own=$("$PYTHON" -c 'import sys
from omegaconf import OmegaConf
from reasoning_irl.composition import compose
for method in ("grpo", "airl"):
    cfg = compose(method, ["experiment=demo_" + method])
    for item in sys.argv[1:]:
        sweep, key = item.split("=", 1)
        print(f"{sweep}.{method}", OmegaConf.select(cfg, key))' "${KEYS[@]}")
    while read -r name value; do OWN[$name]=$value; done <<< "$own"
fi
swept() {  # swept <sweep> <values...>: <method>_<sweep><value> for each value other than the method's demo value
    local sweep=$1 value method
    shift
    for value in "$@"; do
        for method in grpo airl; do
            awk -v a="$value" -v b="${OWN[$sweep.$method]}" 'BEGIN { exit !(a + 0 == b + 0) }' \
                || echo "${method}_$sweep$value"
        done
    done
}
variants() {  # variants <sweep>: the names of its runs, <method>_<setting>
    local value
    case "$1" in
        demos) for value in $DEMO_COUNTS; do echo "sft_demos$value airl_demos$value"; done ;;
        early) for value in $DEMO_COUNTS; do echo "sft_early_demos$value"; done; echo sft_early ;;
        errors) for value in $ERROR_RATES; do echo "sft_errors$value airl_errors$value"; done ;;
        style) for value in $STYLES; do echo "sft_style_$value airl_style_$value"; done ;;
        kl) swept kl $BETAS ;;
        lr) swept lr $LRS ;;
        longer) echo "longer_base longer_sft longer_grpo longer_airl" ;;
        *) usage "unknown sweep '$1' (known: demos early errors style kl lr longer)" ;;
    esac
}
setting() {  # setting <name>: the one override that makes the run (none for sft_early)
    case "$1" in
        *_demos*) echo "method.num_demonstrations=${1#*_demos}" ;;
        *_errors*) echo "method.expert_error_rate=${1#*_errors}" ;;
        *_style_*) echo "method.demonstration_style=${1#*_style_}" ;;
        *_kl*) echo "method.beta=${1#*_kl}" ;;
        *_lr*) echo "training.learning_rate=${1#*_lr}" ;;
    esac
}
JOB_LIST=()
for sweep in $SWEEPS; do
    variants "$sweep" > /dev/null  # an unknown sweep stops here, before anything runs
    for seed in $SEEDS; do
        for name in $(variants "$sweep"); do JOB_LIST+=("$seed $name"); done
    done
done

best_step() {  # best_step <run folder>: the update of its best held-out pass@1 (the first of ties)
    if [ ! -f "$1/metrics.jsonl" ]; then
        [ "$DRY_RUN" = 1 ] && { echo "$METHOD_STEPS"; return; }
        echo "error: $1/metrics.jsonl not found: run its sweep first" >&2
        return 1
    fi
    "$PYTHON" -c 'import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print(-max((r["held_out/pass@1"], -r["step"]) for r in rows if "held_out/pass@1" in r and r["step"] > 0)[1])' \
        "$1/metrics.jsonl"
}

declare -A POLICY=([base]=demo_habit [sft]=demo_sft [grpo]=demo_grpo [airl]=demo_airl)
job() {  # job <seed> <name>: train the run unless it is done, then evaluate it (or, for longer_*, evaluate only)
    local seed=$1 name=$2 out="$OUT_PREFIX-s$1" method=${2%%_*} run_dir eval_dir
    local common=(seed="$seed" output_root="$out" artifacts_dir="$ARTIFACTS")
    eval_dir="$out/eval/sweep_$name"
    [ ! -e "$eval_dir/eval_summary.json" ] || { echo "  done already ($eval_dir)"; return 0; }
    if [ "$method" = longer ]; then
        method=${name#longer_}
        evaluate_reranked "$out/${POLICY[$method]}-s$seed" "$out" "$seed" "$eval_dir" "${common[@]}" \
            dataset.min_steps=$LONGER_STEPS dataset.max_steps=$LONGER_STEPS sampling.max_new_tokens=64
        return
    fi
    run_dir="$out/sweep_$name-s$seed"
    local steps=$METHOD_STEPS overrides=()
    [ -z "$(setting "$name")" ] || overrides=("$(setting "$name")")
    case "$name" in
        sft_early) steps=$(best_step "$out/demo_sft-s$seed") || return ;;
        sft_early_*) steps=$(best_step "$out/sweep_sft_${name#sft_early_}-s$seed") || return ;;
    esac
    if [ ! -e "$run_dir/final/run_info.json" ]; then
        run "$PYTHON" "${SCRIPT[$method]}" experiment="demo_$method" run_name="sweep_$name-s$seed" \
            "${overrides[@]}" training.max_steps="$steps" "${common[@]}" || return
    fi
    evaluate_reranked "$run_dir" "$out" "$seed" "$eval_dir" "${common[@]}"
}

DEMOS=()
for seed in $SEEDS; do
    DEMOS+=("$OUT_PREFIX-s$seed")
    demo_for_seed "$seed" "$OUT_PREFIX-s$seed"
done
export OMP_NUM_THREADS=$JOB_THREADS MKL_NUM_THREADS=$JOB_THREADS WANDB_MODE=${WANDB_MODE:-disabled}
echo "=== ${#JOB_LIST[@]} runs, $JOBS at a time on $JOB_THREADS thread(s) each"
declare -A RUNNING=()
finish_one() {  # wait for one job to end, say how it went
    local ended rc=0
    wait -n -p ended "${!RUNNING[@]}" || rc=$?
    echo "  ${RUNNING[$ended]}: $([ "$rc" = 0 ] && echo done || echo "failed (log: $OUT_PREFIX-s${RUNNING[$ended]%% *}/logs/sweep_${RUNNING[$ended]#* }.log)")"
    unset "RUNNING[$ended]"
}
for entry in "${JOB_LIST[@]}"; do
    read -r seed name <<< "$entry"
    if [ "$DRY_RUN" = 1 ]; then
        echo "=== seed $seed: $name"
        job "$seed" "$name"
        continue
    fi
    [ ${#RUNNING[@]} -lt "$JOBS" ] || finish_one
    mkdir -p "$OUT_PREFIX-s$seed/logs"
    echo "=== seed $seed: $name"
    job "$seed" "$name" > "$OUT_PREFIX-s$seed/logs/sweep_$name.log" 2>&1 &
    RUNNING[$!]="$seed $name"
done
while [ ${#RUNNING[@]} -gt 0 ]; do finish_one; done

echo
echo "=== tables and figure"
run "$PYTHON" runner_scripts/sweep_report.py "${DEMOS[@]}" --sweeps $SWEEPS --demo-counts $DEMO_COUNTS \
    --error-rates $ERROR_RATES --styles $STYLES --betas $BETAS --lrs $LRS --figures "$OUT_PREFIX-sweeps"
