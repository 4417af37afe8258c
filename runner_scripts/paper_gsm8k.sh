#!/usr/bin/env bash
# The GSM8K table for one model pair: SFT, GRPO and AIRL trained, evaluated, figures and table (see paper_table.sh).
#   runner_scripts/paper_gsm8k.sh <qwen2.5-3b | qwen2.5-7b | llama-3.2-3b | llama-3.1-8b> [training overrides ...]
#   SEEDS=0,1,2 LAUNCHER=slurm DATA_PATH=../shared/data/gsm8k runner_scripts/paper_gsm8k.sh qwen2.5-3b
set -euo pipefail
exec bash "$(dirname "$0")/paper_table.sh" gsm8k "$@"
