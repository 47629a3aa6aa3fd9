"""Running past one machine: the Celery workers' settings and their step leases. No Dagster here."""
