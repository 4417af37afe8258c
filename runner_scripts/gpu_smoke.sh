#!/usr/bin/env bash
# Smoke run of the paper presets' own settings (bench/gpu_smoke.py) on random-weight models of the real
# architectures (configs/architectures/): SFT, GRPO and AIRL steps with gsm8k_qwen2.5-3b_{sft,grpo,airl} as they are
# (bf16 policy with LoRA r=128, gradient checkpointing, paged 8-bit AdamW, TRL's colocated vLLM; AIRL's reward model
# from its preset), then evaluation sampling with the GRPO run's adapter through HF and vLLM, each stage in a process
# of its own. What the machine cannot run is replaced, one printed line each and recorded in the JSON (no CUDA:
# use_vllm -> false, optim -> adamw_torch; no vllm package: use_vllm -> false; no bitsandbytes: adamw_torch).
# Prints a table with each stage's step time, generated tokens/s and peak memory; writes $OUT/gpu_smoke.json.
#   runner_scripts/gpu_smoke.sh
#   DEVICE=cpu SIZE=tiny runner_scripts/gpu_smoke.sh          (the same stages on a CPU in about a minute)
# Budget at SIZE=paper on one H100 / H200: 10 minutes (estimates per stage; the whole is still to be timed):
#   ~1 min   build the random 3B policy and 0.5B reward model (bf16, on the GPU) and save them
#   ~0.5 min SFT: imports and model load (~15 s, as in every stage), 3 steps of 2 x 16 traces
#   ~2.5 min GRPO: vLLM's engine start (~1 min), then 3 steps of 2 prompts x 16 samples x 824 tokens, ~20 s each.
#            824 is the preset's length, kept: peak memory at the full length is the figure that says whether the
#            recipe fits; every completion is forced to it (min_completion_length), so every step does the same work
#   ~2.5 min AIRL: the same, plus the reward model's load and updates
#   ~1.5 min evaluation sampling of 2 x 16 x 256 tokens (a timing, shorter than training's), HF, then a vLLM engine
#   Without vLLM, HF generate of 2 x 16 x 824 tokens took ~60 s a step on an H200: GRPO and AIRL then cap their
#   completions at 256 tokens (a printed replacement).
# Environment (all optional):
#   DEVICE   cuda | cpu (default cuda; cpu hides the GPUs)
#   SIZE     paper (the presets' own models and scale; the default) | tiny (the tiny models, 2 prompts x 4 samples
#            x 16 tokens, for a CPU check)
#   STEPS    optimizer steps per training stage, the first excluded as warm-up (default 3)
#   OUT      output folder (default outputs/gpu_smoke)
#   WHEELS   a folder of .whl files installed (no index, no dependencies) into $OUT/site first: a machine with
#            only torch, transformers, peft and accelerate gets the project's other dependencies this way; the
#            list and the commands that download it are in runner_scripts/smoke_wheels.txt
#   DRY_RUN=1, PYTHON   see common.sh
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="runner_scripts/gpu_smoke.sh   (settings in the environment: DEVICE, SIZE, STEPS, OUT, WHEELS)"
source runner_scripts/common.sh

[ $# -eq 0 ] || usage "takes no arguments, got '$*'"
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-paper}
STEPS=${STEPS:-3}
OUT=${OUT:-outputs/gpu_smoke}
case "$DEVICE" in cuda|cpu) ;; *) usage "DEVICE must be cuda or cpu, got '$DEVICE'" ;; esac
case "$SIZE" in paper|tiny) ;; *) usage "SIZE must be paper or tiny, got '$SIZE'" ;; esac
[[ "$STEPS" =~ ^[0-9]+$ && "$STEPS" -ge 2 ]] || usage "STEPS must be an integer >= 2, got '$STEPS'"

if [ "$DEVICE" = cpu ]; then
    export CUDA_VISIBLE_DEVICES=""
fi
SITE=""
if [ -n "${WHEELS:-}" ]; then
    ls "$WHEELS"/*.whl >/dev/null 2>&1 || usage "WHEELS=$WHEELS holds no .whl file"
    SITE=$(realpath -m "$OUT/site")
    run "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" "$WHEELS"/*.whl
fi
export PYTHONPATH="$PWD/src${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
echo "+ export PYTHONPATH=$PYTHONPATH"
run "$PYTHON" bench/gpu_smoke.py --out "$OUT" --size "$SIZE" --steps "$STEPS"
