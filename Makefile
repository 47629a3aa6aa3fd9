# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install, run the main job on the offline defaults
#   make test   the same set-up (and Debian's chromium, redis-server and postgresql for the UI
#               and scale-out tests, Label Studio and COMET in environments of their own),
#               then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)
UI_PORT ?= 3000

# Label Studio (the annotation server the human-rating tests start) and COMET (unbabel-comet,
# for translation_quality) each live in an environment of their own: Label Studio pins Django
# 5.2 and, through its SDK's opencv, numpy<2.3; unbabel-comet 2.2.7 pins numpy<2,
# transformers<5, huggingface-hub<1, protobuf<5 and torchmetrics<0.11 (which needs
# pkg_resources, so setuptools<81). The platform talks to the first over HTTP and runs the
# second as a subprocess; it never needs either to run.
LS_VENV := .venv-label-studio
LS_STAMP := $(LS_VENV)/.installed
COMET_VENV := .venv-comet
COMET_STAMP := $(COMET_VENV)/.installed

.PHONY: setup browser services label-studio comet run test lint ui clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,scale,metrics]'
	# GPT-2's BPE ranks ship in openai-whisper; its own dependencies (numba, triton) are not needed.
	$(BIN)/python -m pip install --quiet --no-deps openai-whisper==20250625
	touch $(STAMP)

setup: $(STAMP)

# sentry-sdk 3 removed an option Label Studio 1.23 passes at start (the server would not start).
$(LS_STAMP):
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet label-studio==1.23.2 'sentry-sdk>=2.16,<3'
	touch $(LS_STAMP)

label-studio: $(LS_STAMP)

# torch==2.13.0 as in pyproject.toml (the CPU build on this machine's disk).
$(COMET_STAMP):
	test -x $(COMET_VENV)/bin/python || $(PYTHON) -m venv $(COMET_VENV)
	$(COMET_VENV)/bin/python -m pip install --quiet torch==2.13.0 unbabel-comet==2.2.7 \
	  'setuptools<81'
	touch $(COMET_STAMP)

comet: $(COMET_STAMP)

run: setup
	$(BIN)/tsr run

# The UI tests drive Debian's headless Chromium; install it when the machine lacks it, and
# Devanagari and Bengali fonts, so the Label Studio screenshot shows the stories' letters.
browser:
	@{ command -v chromium >/dev/null 2>&1 && \
	   ls /usr/share/fonts/truetype/lohit-devanagari >/dev/null 2>&1; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  PACKAGES="chromium fonts-lohit-deva fonts-lohit-beng-bengali"; \
	  $$SUDO apt-get install -y -q $$PACKAGES >/dev/null \
	  || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q $$PACKAGES >/dev/null; }; }

# The scale-out test starts Debian's redis-server and PostgreSQL itself; install them when missing.
services:
	@{ command -v redis-server >/dev/null 2>&1 && \
	   { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q redis-server postgresql >/dev/null \
	  || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q redis-server postgresql >/dev/null; }; }

test: setup browser services label-studio comet
	$(BIN)/ruff check tsr_assets tsr_assets_tests benchmarks deploy
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dg check defs
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check tsr_assets tsr_assets_tests benchmarks deploy

ui: setup
	# `dg dev`: the webserver and the daemon (schedules, sensors, run queue) on 127.0.0.1, for
	# this dg project (the defs folder), with the same DAGSTER_HOME as every other command.
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dg dev -h 127.0.0.1 -p $(UI_PORT)

clean-data:
	rm -rf data_lake history storage logs schedules
