"""The platform's definitions with Dagster's Celery executor: every step of a run is a Celery
task, so many story batches, tokenizers and training runs spread over a pool of workers.

    export TSR_CELERY_BROKER=pyamqp://guest@rabbitmq//   # or redis://redis:6379/0
    celery -A dagster_celery.app worker -l info           # on each worker machine
    dagster dev -w deploy/celery/workspace.yaml           # webserver + daemon

Workers need this repository installed (`pip install -e .[scale]`) and the same data lake
(`TSR_DATA_DIR` on shared storage) and Dagster instance (Postgres, see
deploy/kubernetes/dagster.yaml for the storage block).
"""

import dagster as dg
from dagster_celery import celery_executor

from tsr_assets.definitions import build_definitions

celery = celery_executor.configured(
    {
        "broker": {"env": "TSR_CELERY_BROKER"},
        "backend": "rpc://",
        "include": ["dagster_celery.tasks"],
    },
    name="tsr_celery",
)

defs: dg.Definitions = build_definitions(executor=celery)
