"""Decision rules of other tools, reimplemented for the benchmark (decision-anchors.md §3)."""
