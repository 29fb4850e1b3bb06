"""How events move: the embedded broker, sources, sinks, and the Knative manifests in `config/`."""
