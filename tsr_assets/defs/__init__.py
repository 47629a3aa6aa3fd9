"""The Dagster wiring: partitions, resources, jobs, automation and one module per stage
(assets and checks). The only package that imports Dagster."""
