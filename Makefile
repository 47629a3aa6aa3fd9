# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install, run the main job on the offline defaults
#   make test   the same set-up, then the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)

.PHONY: setup run test lint ui clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# GPT-2's BPE ranks ship in openai-whisper; its own dependencies (numba, triton) are not needed.
	$(BIN)/python -m pip install --quiet --no-deps openai-whisper==20250625
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/tsr run

test: setup
	$(BIN)/ruff check tsr_assets tsr_assets_tests benchmarks
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check tsr_assets tsr_assets_tests benchmarks

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean-data:
	rm -rf data_lake history storage logs schedules
