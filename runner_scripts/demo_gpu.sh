#!/usr/bin/env bash
# The demo's GPU twin: the stages of runner_scripts/demo.sh (SFT, GRPO and AIRL from one base policy, all four
# evaluated, every method reranked by the AIRL reward, reward-model diagnostics, figures and a table) with a
# paper preset on GSM8K, where the model pair's instruct checkpoint is the base policy (no warm-up SFT).
#   runner_scripts/demo_gpu.sh [model pair, default qwen2.5-3b] [training overrides ...]
#   DATA_PATH=../shared/data/gsm8k runner_scripts/demo_gpu.sh qwen2.5-3b training.max_steps=100
# Environment knobs (SEEDS, OUT, DATA_PATH, EVAL_ARGS, LAUNCHER, DRY_RUN) are paper_table.sh's.
set -euo pipefail
PAIR=${1:-qwen2.5-3b}
[ $# -eq 0 ] || shift
exec bash "$(dirname "$0")/paper_gsm8k.sh" "$PAIR" "$@"
