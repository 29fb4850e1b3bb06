"""One module per metrics provider, each exposing `PROVIDER` (found by `iter8.registry.discover`)."""
