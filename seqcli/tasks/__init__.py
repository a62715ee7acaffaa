"""The Python API, one module per task: readers -> vocab -> batches -> fit."""
