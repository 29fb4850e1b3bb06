"""Metrics providers: how each kind of Metric is fetched, one module per provider."""
