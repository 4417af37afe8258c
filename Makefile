# `make install` builds .venv once (torch first, pinned, so pip never pulls a CUDA build)
# and re-installs only when pyproject.toml changes. `make test` installs, then runs the suite;
# `make demo` installs, then runs the miniature paper end to end.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

test: install
	$(PY) -m pytest

# The miniature paper on this machine (runner_scripts/demo.sh; SEED=1 OUT=... select another run).
demo: install
	PYTHON=$(PY) bash runner_scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache
