"""The comparison report: markdown tables and PNG plots."""
