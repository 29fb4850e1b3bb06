"""One module per task, each exposing `TASK` (see `iter8.tasks.base.Task`)."""
