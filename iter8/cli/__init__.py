"""The `iter8` command line."""
