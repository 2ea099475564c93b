# Set-up and the two everyday commands. Everything the project needs is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup repro test test-fast lint bench gate clean-venv

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# pip byte-compiles what it installs. Keep that: with PYTHONDONTWRITEBYTECODE=1 (set on the project's
	# machines) nothing compiled at import time is kept, and with --no-compile the set-up was 2 min shorter
	# but every process of the test suite recompiled torch, making it 4 min longer (benchmarks/RESULTS.md).
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	# The reference SyncNet (test oracle for our SyncNet port); its declared dependencies are
	# video tools we do not use, hence --no-deps.
	$(BIN)/python -m pip install --quiet --no-deps syncnet-python==0.2.3
	touch $@

setup: $(BIN)/.installed

# The main job: the DVC pipeline on the embedded corpus.
repro: setup
	$(BIN)/dvc repro

# The whole test suite, the slow end-to-end tests included (what CI runs).
test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check talkclip pipelines tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_corpus.py
	$(BIN)/python benchmarks/bench_preprocess.py

clean-venv:
	rm -rf $(VENV)

# The CI-profile pipeline from scratch in build/ci-pipeline, then the metric regression gates (.ci/run runs it).
gate: setup
	.ci/pipeline-gate
