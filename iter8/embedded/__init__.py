"""The embedded default: the whole event-driven stack on one machine, on 127.0.0.1."""
