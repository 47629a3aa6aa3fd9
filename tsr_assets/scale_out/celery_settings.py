"""Celery settings shared by the platform's workers and by the runs that send them steps.

Both sides read the same environment, so one module serves every machine:

- `TSR_CELERY_BROKER`: the broker, e.g. `redis://redis:6379/0` (required).
- `TSR_CELERY_BACKEND`: where step results wait for the run (default: the broker).
- `TSR_CELERY_LEASE_S`: how long a step's message stays invisible to other workers. A live
  worker renews the lease of every step it holds (see `celery_leases.py`), so a step may run
  for hours; a worker that dies stops renewing, and its step goes to another worker after at
  most this long (plus one restore sweep).
- `TSR_CELERY_OUTAGE_S`: how long a run and a worker keep retrying while the broker is gone
  before they give up with the connection error.

Steps are acknowledged only when they finish (`task_acks_late`), and a step whose pool process
died is put back at once (`task_reject_on_worker_lost`): a lost worker costs a rerun of the
step, never the step itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

BROKER_ENV = "TSR_CELERY_BROKER"
BACKEND_ENV = "TSR_CELERY_BACKEND"
LEASE_ENV = "TSR_CELERY_LEASE_S"
OUTAGE_ENV = "TSR_CELERY_OUTAGE_S"
DEFAULT_LEASE_S = 120.0
DEFAULT_OUTAGE_S = 300.0
#: The queue dagster-celery routes steps to (its `make_app` declares it).
QUEUE = "dagster"
#: Longest pause between two reconnection attempts to the result backend.
_MAX_RETRY_SLEEP_S = 5.0


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"${name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"${name}={raw!r} must be more than 0 seconds")
    return value


def broker_url(env: Mapping[str, str] | None = None) -> str:
    """The broker URL from `$TSR_CELERY_BROKER`, with an error that says how to set it."""
    url = (os.environ if env is None else env).get(BROKER_ENV, "").strip()
    if not url:
        raise ValueError(f"${BROKER_ENV} is not set: export it on every worker and on the "
                         "machine that launches runs, e.g. redis://127.0.0.1:6379/0")
    return url


def lease_seconds(env: Mapping[str, str] | None = None) -> float:
    """`$TSR_CELERY_LEASE_S` (default 120 s)."""
    return _seconds(os.environ if env is None else env, LEASE_ENV, DEFAULT_LEASE_S)


def celery_settings(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """Celery's lowercase settings for a worker or a run, from the environment."""
    env = os.environ if env is None else env
    broker = broker_url(env)
    lease = lease_seconds(env)
    outage = _seconds(env, OUTAGE_ENV, DEFAULT_OUTAGE_S)
    return {
        "broker_url": broker,
        "result_backend": env.get(BACKEND_ENV, "").strip() or broker,
        "task_default_queue": QUEUE,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One step at a time per worker process, and none parked behind a busy one.
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {
            "visibility_timeout": lease,
            # Sweep for abandoned steps a few times per lease, on every sweep call.
            "unacked_restore_interval": max(1, int(lease / 4)),
            "unacked_restore_throttle": 1,
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 5,
        "result_backend_always_retry": True,
        "result_backend_max_sleep_between_retries_ms": int(_MAX_RETRY_SLEEP_S * 1000),
        "result_backend_max_retries": max(1, int(outage / _MAX_RETRY_SLEEP_S)),
        "result_expires": 7 * 24 * 3600,
    }
