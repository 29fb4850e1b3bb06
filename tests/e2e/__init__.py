"""End-to-end tests through the real embedded stack (broker from `eventing/config/`, the four
functions as processes, sources, sinks) and the `iter8 run` console script.

    bash scripts/prometheus.sh start   # the istio sample reads a real Prometheus
    pytest tests/e2e                   # about 2–3 minutes on 2 cores
"""
