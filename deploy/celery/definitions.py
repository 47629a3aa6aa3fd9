"""The platform's definitions with Dagster's Celery executor: every step of a run is a Celery
task, so story batches, tokenizers and training runs spread over a pool of workers.

    export TSR_CELERY_BROKER=redis://redis:6379/0      # on every machine
    export DAGSTER_HOME=...                            # holding deploy/celery/dagster.yaml
    PYTHONPATH=deploy/celery celery -A dagster_celery.app worker -Q dagster -c 1   # per worker
    dagster dev -w deploy/celery/workspace.yaml        # webserver + daemon

Workers need this repository installed (`pip install -e .[scale]`), the same data lake
(`TSR_DATA_DIR` on shared storage) and the same Postgres-backed instance. Steps retry under
`DEPLOYED_RETRY_POLICY`; a step whose worker dies goes to another worker (see
`tsr_assets/scale_out/celery_settings.py`).
"""

import dagster as dg
from dagster_celery import celery_executor

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import DEPLOYED_RETRY_POLICY
from tsr_assets.scale_out.celery_settings import BACKEND_ENV, BROKER_ENV, celery_settings

# The URLs stay environment references (they may hold a password); the rest is plain settings.
_settings = celery_settings()
_backend_env = BACKEND_ENV if _settings.pop("result_backend") != _settings.pop("broker_url") \
    else BROKER_ENV

celery = celery_executor.configured(
    {
        "broker": {"env": BROKER_ENV},
        "backend": {"env": _backend_env},
        "include": ["dagster_celery.tasks"],
        "config_source": _settings,
    },
    name="tsr_celery",
)

defs: dg.Definitions = build_definitions(executor=celery, op_retry_policy=DEPLOYED_RETRY_POLICY)
