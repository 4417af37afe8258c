#!/usr/bin/env bash
# The paper's AIRL ablations in miniature: for every seed, the demo (runner_scripts/demo.sh: bases, the habit,
# SFT / GRPO / AIRL and their evaluation), then demo_airl once per ablation overlay from the same habit base, each
# evaluated like the methods, then one table over seeds (runner_scripts/demo_report.py --ablations).
#
#   bash runner_scripts/demo_ablations.sh                       # seeds 0 1 2, every overlay below
#   SEEDS="0" ABLATIONS="sparse no_perturbations" bash runner_scripts/demo_ablations.sh
#   HABIT=slip OUT_PREFIX=outputs/slip bash runner_scripts/demo_ablations.sh   # the dense-vs-outcome experiment
#
# Knobs (environment): SEEDS (space-separated), ABLATIONS (names in configs/ablation), OUT_PREFIX (each seed
# writes <OUT_PREFIX>-s<seed>/, default outputs/demo), and every knob of demo.sh (HABIT, METHOD_STEPS,
# EVAL_PROBLEMS, ...). A finished stage is skipped, so the demo folders of `make demo` are reused. An ablation
# whose run fails is reported as failed in the table and the others go on. DRY_RUN=1 prints the commands.
# Overlays that need a folder get the demo's own: frozen_disc the seed's trained AIRL reward model (the policy
# then trains against a reward that no longer moves), warm_start the seed's SFT adapter, continued its AIRL
# policy, disc_policy_size the clean base (a discriminator as large as the policy, trained on the task). The demo
# turns lm_prior on, so its ablation turns it off (method.reward_lm_prior=false); sparse turns the structured
# discriminator off (it scores tokens) and wgan clips weights (its gradient penalty cannot pass lm_prior's token ids).
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="runner_scripts/demo_ablations.sh (settings through the environment, see its header)"
source runner_scripts/common.sh

SEEDS=${SEEDS:-0 1 2}
ALL=$(cd configs/ablation && ls ./*.yaml | sed 's#^\./##; s#\.yaml$##' | tr '\n' ' ')
ABLATIONS=${ABLATIONS:-$ALL}
demo_runner_settings
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
for name in $ABLATIONS; do
    [ -f "configs/ablation/$name.yaml" ] || usage "unknown ablation '$name' (configs/ablation: ${ALL% })"
done
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS WANDB_MODE=${WANDB_MODE:-disabled}

overrides() {  # overrides <ablation> <demo folder> <seed>: what the overlay needs in the demo
    case "$1" in
        frozen_disc) echo "+ablation=frozen_disc method.frozen_reward_model=$2/demo_airl-s$3/reward_model" ;;
        warm_start) echo "+ablation=warm_start model.init_adapter=$2/demo_sft-s$3/final" ;;
        continued) echo "+ablation=continued model.init_adapter=$2/demo_airl-s$3/final" ;;
        disc_policy_size) echo "+ablation=disc_policy_size reward_model.name_or_path=$2/demo_base-s$3/final" ;;
        lm_prior) echo "method.reward_lm_prior=false" ;;
        # The demo's structured discriminator scores tokens (f - log pi); a sequence-level one cannot be.
        sparse) echo "+ablation=sparse method.structured_discriminator=false" ;;
        # The gradient penalty needs token embeddings to interpolate; lm_prior's f reads token ids.
        wgan) echo "+ablation=wgan method.wgan_lipschitz=weight_clip" ;;
        *) echo "+ablation=$1" ;;
    esac
}

DEMOS=()
for seed in $SEEDS; do
    out="$OUT_PREFIX-s$seed"
    DEMOS+=("$out")
    demo_for_seed "$seed" "$out"
    common=(seed="$seed" output_root="$out" artifacts_dir="$ARTIFACTS" "${EXTRA_ARGS[@]}")
    eval_common=(seed="$seed" output_root="$out" artifacts_dir="$ARTIFACTS")  # evaluations read the run's config.yaml
    for arg in "${EXTRA_ARGS[@]}"; do
        case "$arg" in training.*|method.*|sampling.*|model.*|reward_model.*|logging.*|run_name=*) ;; *) eval_common+=("$arg") ;; esac
    done
    for name in $ABLATIONS; do
        echo "=== seed $seed: ablation $name"
        read -r -a extra <<< "$(overrides "$name" "$out" "$seed")"
        run_dir="$out/demo_airl_$name-s$seed"
        eval_dir="$out/eval/ablation_$name"
        if [ -e "$eval_dir/eval_summary.json" ]; then echo "  done already ($eval_dir)"; continue; fi
        if [ ! -e "$run_dir/final/run_info.json" ]; then
            mkdir -p "$out"
            run "$PYTHON" irl_train.py experiment=demo_airl run_name="demo_airl_$name-s$seed" "${extra[@]}" \
                training.max_steps="$METHOD_STEPS" "${common[@]}" || { echo "  failed: $name (seed $seed)"; continue; }
        fi
        # Reranking keeps the full AIRL run's reward model, so every row of the table is reranked alike.
        evaluate_reranked "$run_dir" "$out" "$seed" "$eval_dir" "${eval_common[@]}" \
            || echo "  failed: evaluation of $name (seed $seed)"
    done
done

echo
echo "=== table"
run "$PYTHON" runner_scripts/demo_report.py "${DEMOS[@]}" --habit "${HABIT:-skip_last_step}" --ablations $ABLATIONS
