"""Iter8, re-made as event-driven serverless functions.

The core (this package) is pure where it decides: API models, defaults, validation, analytics.
The shells that touch the world are the stores (`iter8.store`), the CLI (`iter8.cli`), the
functions (`functions/<phase>/main.py`) and the event plumbing (`eventing/`).
"""

__version__ = "0.1.0"
