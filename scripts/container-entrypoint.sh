#!/bin/sh
# The image's entrypoint: serve the function that ITER8_FUNCTION names (init, analyze, route,
# promote; or notifier, the eventing/sinks function) on $PORT, which Knative sets. With
# arguments, run them instead (e.g. `iter8 validate /work/experiment.yaml`).
set -eu

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

export HOST="${HOST:-0.0.0.0}"
export PORT="${PORT:-8080}"
function="${ITER8_FUNCTION:-}"

case "$function" in
  init | analyze | route | promote)
    exec iter8 serve "$function"
    ;;
  notifier)
    source=$(python -c 'import eventing.sinks, pathlib; print(pathlib.Path(eventing.sinks.__file__).with_name("main.py"))')
    exec functions-framework --source "$source" --target notify --host "$HOST" --port "$PORT"
    ;;
  *)
    echo "container-entrypoint: set ITER8_FUNCTION to init, analyze, route, promote or notifier (it is '$function')" >&2
    exit 64
    ;;
esac
