#!/usr/bin/env bash
# The seed paper's AIRL ablation table (GSM8K): for each model pair and each ablation, one AIRL training multirun
# over the seeds, then its evaluation with the paper protocol. Needs the pairs' main tables first
# (runner_scripts/paper_gsm8k.sh <pair>): two ablations start from their runs.
#   runner_scripts/paper_ablations.sh [training overrides ...]
#   SEEDS=0,1,2 LAUNCHER=slurm runner_scripts/paper_ablations.sh
# The ablations are the seed's *_irl_train_<variant>.yaml configs, as overlays in configs/ablation:
#   expert_errors (_error)      20% of the expert traces perturbed
#   frozen_disc   (_fixed)      a frozen discriminator: the partner pair's trained one (qwen2.5-3b <-> qwen2.5-7b,
#                               llama-3.2-3b <-> llama-3.1-8b), as the seed's
#   sparse        (_sparse)     a sequence-level discriminator
#   unnormalized  (_unnormalised) no group normalisation of token rewards
#   continued     (_continued)  the pair's AIRL policy trained for another run
# Environment (all optional):
#   SEEDS        comma-separated training seeds (default 0)
#   PAIRS        space-separated model pairs (default: the four of the paper)
#   ABLATIONS    space-separated overlays (default: the five above)
#   TABLES       where paper_table.sh wrote the main tables (default outputs/paper): <TABLES>/gsm8k_<pair>/airl/...
#   OUT          output folder (default outputs/paper/ablations); runs in <OUT>/<pair>/<ablation>/seed=<s>
#   EVAL_ARGS    extra overrides for evaluate.py, space-separated (e.g. num_problems=200)
#   LAUNCHER, DRY_RUN, PYTHON   see common.sh
# Training overrides given as arguments go to every training command.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="runner_scripts/paper_ablations.sh [training overrides ...]   (settings through the environment, see its header)"
source runner_scripts/common.sh

SEEDS=${SEEDS:-0}
[[ "$SEEDS" =~ ^[0-9]+(,[0-9]+)*$ ]] || usage "SEEDS must be comma-separated integers, got '$SEEDS'"
PAIRS=${PAIRS:-qwen2.5-3b qwen2.5-7b llama-3.2-3b llama-3.1-8b}
ABLATIONS=${ABLATIONS:-expert_errors frozen_disc sparse unnormalized continued}
TABLES=${TABLES:-outputs/paper}
OUT=${OUT:-outputs/paper/ablations}
read -r -a EVAL_EXTRA <<< "${EVAL_ARGS:-}"
for pair in $PAIRS; do
    [ -f "configs/experiment/gsm8k_${pair}_airl.yaml" ] || usage "unknown model pair '$pair'"
done
for name in $ABLATIONS; do
    [ -f "configs/ablation/$name.yaml" ] || usage "unknown ablation '$name'"
done

partner() {  # the pair whose discriminator the seed's _fixed config freezes
    case "$1" in
        qwen2.5-3b) echo qwen2.5-7b ;; qwen2.5-7b) echo qwen2.5-3b ;;
        llama-3.2-3b) echo llama-3.1-8b ;; llama-3.1-8b) echo llama-3.2-3b ;;
        *) usage "no partner pair for '$1' (frozen_disc)" ;;
    esac
}

# The main table's AIRL run of the same seed (Hydra fills in each job's seed).
airl_run() { echo "$TABLES/gsm8k_$1/airl/seed=\${seed}"; }

for pair in $PAIRS; do
    for name in $ABLATIONS; do
        extra=()
        case "$name" in
            frozen_disc) extra=("method.frozen_reward_model='$(airl_run "$(partner "$pair")")/reward_model'") ;;
            continued) extra=("model.init_adapter='$(airl_run "$pair")/final'") ;;
        esac
        root="$OUT/$pair"
        run "$PYTHON" irl_train.py -m "${LAUNCH[@]}" "seed=choice($SEEDS)" "output_root=$root" \
            "experiment=gsm8k_${pair}_airl" "+ablation=$name" "run_name=$name" "${extra[@]}" "$@"
        # The seed's protocol (N=16, k in 1,3,5,10, the gsm8k_kd test split), reranked by the run's own reward
        # model (a frozen discriminator's run keeps the one it was given).
        rm_path="\${output_root}/$name/seed=\${seed}/reward_model"
        [ "$name" = frozen_disc ] && rm_path="$(airl_run "$(partner "$pair")")/reward_model"
        run "$PYTHON" evaluate.py -m "${LAUNCH[@]}" "seed=choice($SEEDS)" "output_root=$root" \
            "policy='\${output_root}/$name/seed=\${seed}/final'" "reward_model_path='$rm_path'" \
            dataset=gsm8k_kd split=test sampling.num_samples=16 "ks=[1,3,5,10]" \
            "output_dir='\${output_root}/eval/$name/seed=\${seed}-test'" "hydra.sweep.dir=$root/eval/$name" \
            "${EVAL_EXTRA[@]}"
    done
done
