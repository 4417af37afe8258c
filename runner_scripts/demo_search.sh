#!/usr/bin/env bash
# Test time in miniature: each learned reward of a seed's demo as a reranker and as the guide of the step-level
# search (evaluate.py search.method=beam|dvts), against best-of-n reranking and majority vote at the search's
# generated-token budget, all on the habit base (the policy a reward would guide), then one table over seeds
# (runner_scripts/search_report.py), with each reward's diagnostics (evaluate_irl: experts above their perturbed
# copies, the first corrupted step located, against always guessing the first step).
#
#   bash runner_scripts/demo_search.sh                         # seeds 0 1 2; rewards airl, relativistic, prime
#   SEEDS="0" REWARDS="airl" SEARCH="beam" bash runner_scripts/demo_search.sh
#
# Rewards (REWARDS, space-separated): airl (the demo's AIRL reward model), relativistic (RARO's critic) and prime
# (PRIME's implicit process reward), each trained here with its demo_<reward> preset when the seed's folder lacks it.
# VeriFree and the perplexity reward are not rewards one can search with: both read the problem's reference answer,
# which a test-time problem does not come with.
# Knobs (environment): SEEDS, REWARDS, SEARCH (beam dvts), OUT_PREFIX (each seed uses <OUT_PREFIX>-s<seed>/, default
# outputs/demo), SEARCH_PROBLEMS (default 100), SEARCH_SAMPLES (N whole samples per problem, the baselines' pool,
# default 24: a beam of 4 x 4 expansions spends about 17 samples' tokens here, so the baselines can match it), and
# IRL_PROBLEMS (each reward's diagnostics, evaluate_irl, default 200), and every knob of demo.sh. A finished stage is
# skipped. DRY_RUN=1 prints the commands.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="runner_scripts/demo_search.sh (settings through the environment, see its header)"
source runner_scripts/common.sh

SEEDS=${SEEDS:-0 1 2}
LEARNED_REWARDS="airl relativistic prime"
REWARDS=${REWARDS:-$LEARNED_REWARDS}
SEARCH=${SEARCH:-beam dvts}
SEARCH_PROBLEMS=${SEARCH_PROBLEMS:-100}
SEARCH_SAMPLES=${SEARCH_SAMPLES:-24}
IRL_PROBLEMS=${IRL_PROBLEMS:-200}
demo_runner_settings
for reward in $REWARDS; do
    case " $LEARNED_REWARDS " in *" $reward "*) ;; *) usage "unknown reward '$reward' (known: $LEARNED_REWARDS)" ;; esac
done
for method in $SEARCH; do
    case "$method" in beam|dvts) ;; *) usage "SEARCH takes beam and dvts, got '$method'" ;; esac
done
search_each() {  # search_each <seed> <folder>: every search of SEARCH guided by every reward of REWARDS
    local seed=$1 out=$2 reward method run_dir eval_dir
    for reward in $REWARDS; do
        run_dir="$out/demo_$reward-s$seed"
        if [ ! -e "$run_dir/reward_model" ]; then
            echo "=== seed $seed: training the $reward reward"
            run "$PYTHON" irl_train.py experiment="demo_$reward" training.max_steps="$METHOD_STEPS" "${common[@]}"
        fi
        # The reward against ground truth: held-out experts vs their perturbed copies, the corrupted step located
        if [ ! -e "$out/search/${reward}_diagnostics/irl_diagnostics.json" ]; then
            run "$PYTHON" evaluate_irl.py reward_model_path="$run_dir/reward_model" num_problems="$IRL_PROBLEMS" \
                output_dir="$out/search/${reward}_diagnostics" "${common[@]}"
        fi
        for method in $SEARCH; do
            eval_dir="$out/search/${reward}_$method"
            echo "=== seed $seed: $method guided by the $reward reward"
            if [ -e "$eval_dir/eval_summary.json" ]; then echo "  done already ($eval_dir)"; continue; fi
            run "$PYTHON" evaluate.py policy="$out/demo_habit-s$seed/final" reward_model_path="$run_dir/reward_model" \
                search.method="$method" num_problems="$SEARCH_PROBLEMS" sampling.num_samples="$SEARCH_SAMPLES" \
                sampling.max_new_tokens=48 progress=false output_dir="$eval_dir" "${common[@]}"
        done
    done
}
for_each_demo search_each

echo
echo "=== table"
run "$PYTHON" runner_scripts/search_report.py "${DEMOS[@]}"
