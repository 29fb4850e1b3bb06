#!/usr/bin/env bash
# A real Prometheus on 127.0.0.1 for tests, fed through its remote-write receiver (see
# shared/reference/knative.md Part B and tests/prometheus.py). Its data is wiped on every start.
#
#   scripts/prometheus.sh start    idempotent; about 2 s the first time (package), then < 1 s
#   scripts/prometheus.sh stop     ends only the pid this script recorded
#   scripts/prometheus.sh status   exit 0 when ready, 3 when not running
#   scripts/prometheus.sh url      prints the base URL
#
# The binary is `prometheus` on PATH if there is one, else Debian's `prometheus` package
# unpacked (not installed: no services, no 400 MB of web-UI JavaScript) into
# ${XDG_CACHE_HOME:-$HOME/.cache}/iter8-prometheus. State (data dir, log, pid) lives in
# PROMETHEUS_DIR (default $PWD/.state/prometheus); the port is PROMETHEUS_PORT (19090).
set -euo pipefail

STATE=$(realpath -m "${PROMETHEUS_DIR:-$PWD/.state/prometheus}")
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/iter8-prometheus
PORT=${PROMETHEUS_PORT:-19090}
URL=http://127.0.0.1:$PORT

log() { printf 'prometheus.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

binary() {
  if command -v prometheus >/dev/null 2>&1; then command -v prometheus; return 0; fi
  local unpacked=$CACHE/root/usr/bin/prometheus
  if [ ! -x "$unpacked" ]; then
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9  # one download at a time, even with several concurrent starts
    if [ ! -x "$unpacked" ]; then
      local work
      work=$(mktemp -d "$CACHE/download.XXXXXX")
      log "unpacking Debian's prometheus package into $CACHE"
      (cd "$work" && apt-get download -qq prometheus 2>/dev/null) ||
        { apt-get update -qq && (cd "$work" && apt-get download -qq prometheus); } ||
        { rm -rf "$work"; die "apt-get download prometheus failed"; }
      rm -rf "$CACHE/root"
      dpkg-deb -x "$work"/prometheus_*.deb "$CACHE/root"
      rm -rf "$work"
    fi
    flock -u 9
  fi
  echo "$unpacked"
}

# A recorded pid counts only while it still runs our command line (pids get reused).
our_pid() {
  local pid
  [ -s "$STATE/prometheus.pid" ] || return 1
  pid=$(cat "$STATE/prometheus.pid")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE/data" || return 1
  echo "$pid"
}

ready() { curl -sf -m 2 "$URL/-/ready" >/dev/null 2>&1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

cmd_start() {
  if our_pid >/dev/null && ready; then return 0; fi
  cmd_stop
  if ! command -v curl >/dev/null; then
    [ "$(id -u)" = 0 ] || die "curl is needed (apt-get install curl)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
  fi
  local bin
  bin=$(binary)
  port_free || die "127.0.0.1:$PORT is in use by a process this script did not start"
  mkdir -p "$STATE"
  rm -rf "$STATE/data"
  # No scrape targets: tests write their samples through the remote-write receiver.
  printf 'global:\n  scrape_interval: 1m\nscrape_configs: []\n' >"$STATE/prometheus.yml"
  # setsid runs in place (a background job is no group leader), so $! is prometheus's own pid;
  # recording it here, before the wait, leaves no window in which the pid file is missing.
  setsid "$bin" \
    --config.file="$STATE/prometheus.yml" --storage.tsdb.path="$STATE/data" \
    --web.listen-address="127.0.0.1:$PORT" --web.enable-remote-write-receiver \
    </dev/null >"$STATE/prometheus.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$STATE/prometheus.pid"
  local deadline=$((SECONDS + 30))
  until ready; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$STATE/prometheus.log" >&2; die "prometheus exited"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$STATE/prometheus.log" >&2; die "not ready"; }
    sleep 0.1
  done
  log "ready at $URL (pid $(our_pid))"
}

cmd_stop() {
  local pid i
  pid=$(our_pid) || { rm -f "$STATE/prometheus.pid"; return 0; }
  kill "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$STATE/prometheus.pid"
}

cmd_status() {
  local pid
  if pid=$(our_pid); then echo "prometheus: running (pid $pid)"; else echo "prometheus: stopped"; fi
  if ready; then echo "ready: ok ($URL)"; else echo "ready: down"; return 3; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
