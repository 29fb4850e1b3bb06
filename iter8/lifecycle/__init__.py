"""The experiment's life as pure functions of its status: stages, conditions, the target lock and
the iteration schedule. The functions are shells around these (DESIGN principle 1)."""
