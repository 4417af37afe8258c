#!/usr/bin/env bash
# The MedReason table for one model pair: SFT, GRPO and AIRL trained, evaluated, figures and table
# (see paper_table.sh).
#   runner_scripts/paper_medreason.sh qwen2.5-7b [training overrides ...]
#   SEEDS=0,1,2 LAUNCHER=slurm runner_scripts/paper_medreason.sh qwen2.5-7b
set -euo pipefail
exec bash "$(dirname "$0")/paper_table.sh" medreason "$@"
