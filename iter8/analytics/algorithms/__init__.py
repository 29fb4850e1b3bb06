"""The analysis algorithms, one module each, each exposing `ALGORITHM` (see iter8.registry)."""
