"""One module per routing target, each exposing `ROUTER` (see `iter8.routing.router`)."""
