#!/usr/bin/env bash
# Smoke run of every GPU path at small scale on random-weight models of the real architectures (bench/gpu_smoke.py):
# bf16 GRPO and AIRL steps through the project's trainers, HF and vLLM evaluation sampling with the rank-128 LoRA
# adapter, 4-bit and unsloth loads. vLLM, bitsandbytes and unsloth are optional: each missing one is skipped with
# one line. Prints a table of what ran / was skipped / failed and the step times; writes $OUT/gpu_smoke.json.
#   runner_scripts/gpu_smoke.sh
#   DEVICE=cpu SIZE=tiny runner_scripts/gpu_smoke.sh          (the same run on a CPU in about a minute)
# At the paper size HF generation dominates: about 60-90 s per step on one H200, about 10 minutes in all.
# Environment (all optional):
#   DEVICE   cuda | cpu (default cuda; cpu hides the GPUs)
#   SIZE     paper (a Qwen2.5-3B-architecture policy, 0.5B reward model, 2 prompts x 16 samples x 824 tokens;
#            the default) | tiny (the tiny presets)
#   STEPS    optimizer steps per training run, the first excluded as warm-up (default 3)
#   OUT      output folder (default outputs/gpu_smoke)
#   WHEELS   a folder of .whl files installed (no index, no dependencies) into $OUT/site first: a machine with
#            only torch, transformers, peft and accelerate gets the project's pure-Python dependencies this way,
#            e.g. from `pip download --no-deps --only-binary=:all: --python-version 3.12 -d wheels trl==1.16.0
#            datasets==5.2.0 dill multiprocess hydra-core omegaconf math-verify latex2sympy2_extended` plus a wheel
#            built with `pip wheel --no-deps antlr4-python3-runtime==4.9.3` (published as source only)
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
