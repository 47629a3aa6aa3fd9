# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install, run the main job on the offline defaults
#   make test   the same set-up (and Debian's chromium, redis-server and postgresql for the UI
#               and scale-out tests), then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)
UI_PORT ?= 3000

.PHONY: setup browser services run test lint ui clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,scale]'
	# GPT-2's BPE ranks ship in openai-whisper; its own dependencies (numba, triton) are not needed.
	$(BIN)/python -m pip install --quiet --no-deps openai-whisper==20250625
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/tsr run

# The UI test drives Debian's headless Chromium; install it when the machine lacks it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium >/dev/null \
	  || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; }

# The scale-out test starts Debian's redis-server and PostgreSQL itself; install them when missing.
services:
	@{ command -v redis-server >/dev/null 2>&1 && \
	   { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q redis-server postgresql >/dev/null \
	  || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q redis-server postgresql >/dev/null; }; }

test: setup browser services
	$(BIN)/ruff check tsr_assets tsr_assets_tests benchmarks deploy
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check tsr_assets tsr_assets_tests benchmarks deploy

ui: setup
	# The webserver and the daemon (schedules, sensors, run queue) on 127.0.0.1.
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

clean-data:
	rm -rf data_lake history storage logs schedules
