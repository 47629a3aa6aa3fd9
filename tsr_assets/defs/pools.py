"""Concurrency pools: steps that share a scarce thing take turns through these.

Limits live in the instance (`concurrency.pools` in dagster.yaml: 1 each unless set). On a
shared Postgres instance set them once before the first runs, e.g.
`dagster instance concurrency set training 8` for eight GPUs: two runs that both create a
pool's row at once collide in dagster-postgres.
"""

#: Warehouse writers: DuckDB lets one process write at a time.
DUCKDB_POOL = "duckdb"
#: Training and sampling steps: one per GPU.
TRAINING_POOL = "training"
#: Every pool, with the limit a fresh deployment gets.
POOL_LIMITS = {DUCKDB_POOL: 1, TRAINING_POOL: 1}
