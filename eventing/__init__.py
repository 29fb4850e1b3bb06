"""How events move: the embedded broker, sources and sinks, and the Knative manifests in `config/`."""
