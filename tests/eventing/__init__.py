"""Tests of how events move: sources, sinks and the broker."""
