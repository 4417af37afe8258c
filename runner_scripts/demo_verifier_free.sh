#!/usr/bin/env bash
# AIRL against the ways the field learns reasoning without a verifier, in miniature: for every seed, the demo
# (runner_scripts/demo.sh: bases, the habit, SFT / GRPO / AIRL and their evaluation), then each verifier-free
# method from the same habit base with the demo's budget (its preset demo_<method>: the same prompts, samples,
# policy updates and learning rate as demo_grpo / demo_airl), evaluated like the methods (reranked by the
# seed's AIRL reward), then one table over seeds (runner_scripts/demo_report.py --verifier-free).
#
#   bash runner_scripts/demo_verifier_free.sh                  # seeds 0 1 2, every method below
#   SEEDS="0" METHODS="verifree" bash runner_scripts/demo_verifier_free.sh
#
# Methods (METHODS, space-separated): verifree (VeriFree: the policy's probability of the reference answer after
# its reasoning, train.py), perplexity (the clean base's mean log-probability of the reference answer after the
# sampled reasoning, train.py), relativistic (RARO's relativistic critic as AIRL's discriminator loss, irl_train.py),
# prime (PRIME's implicit process reward, learned from the grader's outcomes instead of demonstrations, irl_train.py).
# Knobs (environment): SEEDS, METHODS, OUT_PREFIX (each seed writes <OUT_PREFIX>-s<seed>/, default outputs/demo),
# and every knob of demo.sh (HABIT, METHOD_STEPS, EVAL_PROBLEMS, ...). A finished stage is skipped, so the demo
# folders of `make demo` are reused. A method whose run fails is reported as failed in the table and the others
# go on. DRY_RUN=1 prints the commands.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="runner_scripts/demo_verifier_free.sh (settings through the environment, see its header)"
source runner_scripts/common.sh

SEEDS=${SEEDS:-0 1 2}
declare -A SCRIPT=([verifree]=train.py [perplexity]=train.py [relativistic]=irl_train.py [prime]=irl_train.py)
METHODS=${METHODS:-verifree perplexity relativistic prime}
demo_runner_settings
for name in $METHODS; do
    [ -n "${SCRIPT[$name]:-}" ] || usage "unknown method '$name' (known: ${!SCRIPT[*]})"
done
train_and_evaluate() {  # train_and_evaluate <seed> <folder>: each method of METHODS, then its evaluation
    local seed=$1 out=$2 name run_dir eval_dir
    for name in $METHODS; do
        echo "=== seed $seed: $name"
        run_dir="$out/demo_$name-s$seed"
        eval_dir="$out/eval/$name"
        if [ -e "$eval_dir/eval_summary.json" ]; then echo "  done already ($eval_dir)"; continue; fi
        if [ ! -e "$run_dir/final/run_info.json" ]; then
            mkdir -p "$out"
            run "$PYTHON" "${SCRIPT[$name]}" experiment="demo_$name" training.max_steps="$METHOD_STEPS" \
                "${common[@]}" || { echo "  failed: $name (seed $seed)"; continue; }
        fi
        # Reranking uses the seed's AIRL reward model, so every row of the table is reranked alike.
        evaluate_reranked "$run_dir" "$out" "$seed" "$eval_dir" "${common[@]}" \
            || echo "  failed: evaluation of $name (seed $seed)"
    done
}
for_each_demo train_and_evaluate

echo
echo "=== table"
run "$PYTHON" runner_scripts/demo_report.py "${DEMOS[@]}" --habit "${HABIT:-skip_last_step}" --verifier-free $METHODS
