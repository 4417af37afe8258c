#!/usr/bin/env bash
# One paper table: train SFT, GRPO and AIRL for a model pair (every seed), evaluate the base policy and the three
# trained ones (pass@k, and reranking by the AIRL reward model of the same seed), diagnose the reward model, then
# build the figures (first seed) and the table over seeds. paper_gsm8k.sh and paper_medreason.sh call this.
#   runner_scripts/paper_table.sh <task: gsm8k | medreason> <model pair> [training overrides ...]
# Presets: configs/experiment/<task>_<pair>_{sft,grpo,airl}.yaml. Every stage is a Hydra multirun over the seeds
# (jobs run one after another here, side by side on a cluster with LAUNCHER=slurm); a stage waits for the last.
# Environment (all optional):
#   SEEDS               comma-separated training seeds (default 0); each seed is also its evaluation's seed
#   OUT                 output folder (default outputs/paper/<task>_<pair>)
#   DATA_PATH           dataset.path of the GRPO preset's data set (GRPO training): a local copy
#   EXPERT_DATA_PATH    dataset.path of the SFT/AIRL presets' data set (expert traces; evaluate.py, evaluate_irl.py)
#   EVAL_ARGS           extra overrides for evaluate.py and evaluate_irl.py, space-separated (e.g. num_problems=200)
#   LAUNCHER, DRY_RUN, PYTHON   see common.sh
# Training overrides given after the pair go to the three training scripts only.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="runner_scripts/paper_${1:-<task>}.sh <model pair> [training overrides ...]"
source runner_scripts/common.sh

[ $# -ge 1 ] || usage "missing the task"
TASK=$1
shift
# A pair has all three presets (the discriminator-size sweep's AIRL-only presets are not pairs).
PAIRS=$(cd configs/experiment && for f in "${TASK}"_*_airl.yaml; do
    p=${f#"${TASK}_"}; p=${p%_airl.yaml}
    if [ -f "${TASK}_${p}_sft.yaml" ] && [ -f "${TASK}_${p}_grpo.yaml" ]; then echo "$p"; fi
done 2>/dev/null | tr '\n' ' ')
[ -n "$PAIRS" ] || usage "no presets for task '$TASK' in configs/experiment"
USAGE="$USAGE   (model pairs: ${PAIRS% })"
[ $# -ge 1 ] || usage "missing the model pair"
PAIR=$1
shift
for method in sft grpo airl; do
    [ -f "configs/experiment/${TASK}_${PAIR}_${method}.yaml" ] || usage "unknown model pair '$PAIR' for $TASK"
done

SEEDS=${SEEDS:-0}
[[ "$SEEDS" =~ ^[0-9]+(,[0-9]+)*$ ]] || usage "SEEDS must be comma-separated integers, got '$SEEDS'"
OUT=${OUT:-outputs/paper/${TASK}_${PAIR}}
read -r -a EVAL_EXTRA <<< "${EVAL_ARGS:-}"
# choice(...) makes even one seed a sweep, so every run folder is named <method>/seed=<s> (see docs/scaling_out.md, Sweeps).
SWEEP=(-m "${LAUNCH[@]}" "seed=choice($SEEDS)" "output_root=$OUT")
GRPO_DATA=(${DATA_PATH:+"dataset.path=$DATA_PATH"})
EXPERT_DATA=(${EXPERT_DATA_PATH:+"dataset.path=$EXPERT_DATA_PATH"})

run "$PYTHON" sft_train.py "${SWEEP[@]}" "experiment=${TASK}_${PAIR}_sft" run_name=sft "${EXPERT_DATA[@]}" "$@"
run "$PYTHON" train.py "${SWEEP[@]}" "experiment=${TASK}_${PAIR}_grpo" run_name=grpo "${GRPO_DATA[@]}" "$@"
run "$PYTHON" irl_train.py "${SWEEP[@]}" "experiment=${TASK}_${PAIR}_airl" run_name=airl "${EXPERT_DATA[@]}" "$@"

# Every policy with the seed paper's protocol: N=16 samples per problem, pass@k etc. for k in 1, 3, 5, 10, on the
# test split of the AIRL preset's data set (GSM8K: gsm8k_kd, as the seed's *_config_eval.yaml), reranked by the
# AIRL reward model of its seed.
# A trained policy's sampling settings and system prompt come from its run's config.yaml; the base policy is the
# GRPO preset's model. ${...} below is left to Hydra: each job fills in its own seed and output_root.
preset_choice() { sed -n "s/^ *- override \/$2: //p" "configs/experiment/${TASK}_${PAIR}_$1.yaml"; }
EVAL_DATA=("dataset=$(preset_choice airl dataset)" "${EXPERT_DATA[@]}")
SEED_PROTOCOL=(split=test sampling.num_samples=16 "ks=[1,3,5,10]")
REWARD_MODEL="reward_model_path='\${output_root}/airl/seed=\${seed}/reward_model'"
for method in base sft grpo airl; do
    POLICY=()
    [ "$method" = base ] || POLICY=("policy='\${output_root}/$method/seed=\${seed}/final'")
    run "$PYTHON" evaluate.py "${SWEEP[@]}" "model=$(preset_choice grpo model)" "${POLICY[@]}" \
        "output_dir='\${output_root}/eval/$method/seed=\${seed}-\${split}'" \
        "$REWARD_MODEL" "hydra.sweep.dir=$OUT/eval/$method" "${EVAL_DATA[@]}" "${SEED_PROTOCOL[@]}" "${EVAL_EXTRA[@]}"
done
# The reward model on the expert traces it learned from, and its scores of the AIRL policy's samples.
run "$PYTHON" evaluate_irl.py "${SWEEP[@]}" "$REWARD_MODEL" \
    "output_dir='\${output_root}/eval_irl/airl/seed=\${seed}-\${split}'" \
    "samples_from='\${output_root}/eval/airl/seed=\${seed}-test/eval_results.jsonl'" \
    "hydra.sweep.dir=$OUT/eval_irl/airl" "${EVAL_DATA[@]}" "${EVAL_EXTRA[@]}"

FIRST=${SEEDS%%,*}
run "$PYTHON" figures/make_figures.py "$OUT/eval/base/seed=$FIRST-test" "$OUT/eval/sft/seed=$FIRST-test" \
    "$OUT/eval/grpo/seed=$FIRST-test" "$OUT/eval/airl/seed=$FIRST-test" --labels base sft grpo airl \
    --irl "$OUT/eval_irl/airl/seed=$FIRST-test" --out "$OUT/figures"
run "$PYTHON" -m reasoning_irl.evaluation.aggregate "$OUT/eval" --out "$OUT/table"
