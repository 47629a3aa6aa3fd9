#!/usr/bin/env bash
# The GPU suite in one command: trainer tokens/s and MFU (e512_l6, bf16, compile, both
# recipes), the sampler at batch 1 and 64, and DDP on every visible GPU; one JSON line last.
# At most 8 minutes on one GPU; without CUDA, a ~30-second CPU dry run of the same steps.
#   benchmarks/gpu_suite.sh [--steps 300] [--batch-size 32] [--new-tokens 256]
set -euo pipefail
cd "$(dirname "$0")/.."
# The project's venv where it exists; else the machine's python (a lent GPU machine has
# torch, numpy and pyarrow, all the trainer and sampler need).
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout "${GPU_SUITE_TIMEOUT:-480}" "$PYTHON" benchmarks/gpu_suite.py "$@"
