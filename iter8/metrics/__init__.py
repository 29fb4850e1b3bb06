"""Metrics: one observation per metric and version, from whichever backend the Metric names.

`registry.fetch_all` is the entry point (it never raises); `provider.py` is the contract;
`providers/` holds one module per backend (Iter8 v2 REST, Prometheus, mock, built-in);
`builtin_data.py` is what `metrics/collect` measured and `load.py` is how it measures it.
"""
