"""Settings of the platform's Celery workers.

`celery -A dagster_celery.app worker` imports the module of this name when it is on
PYTHONPATH; start every worker with this folder on it:

    PYTHONPATH=deploy/celery celery -A dagster_celery.app worker -Q dagster -c 1

The settings come from `tsr_assets.scale_out.celery_settings` (the runs that send steps use the
same function), and the worker renews the leases of the steps it holds.
"""

from tsr_assets.scale_out.celery_leases import install_lease_renewal
from tsr_assets.scale_out.celery_settings import celery_settings, lease_seconds

_settings = celery_settings()
globals().update(_settings)
install_lease_renewal(_settings["broker_url"], lease_seconds())
