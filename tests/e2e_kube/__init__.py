"""End to end against the real kube-apiserver: `iter8 run --kubeconfig` and the embedded stack
driving the four functions against Experiments, Metrics and routed objects held by the API
server, with metrics from a real Prometheus."""
