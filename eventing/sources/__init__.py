"""Event sources for the embedded stack: what Knative's ApiServerSource and PingSource do on a
cluster, as threads that POST binary-mode CloudEvents to a sink URL (the broker ingress)."""
