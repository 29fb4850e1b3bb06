#!/usr/bin/env bash
# Knative Eventing 1.11.11's own code, as local processes against the real kube-apiserver of
# scripts/kube-apiserver.sh (which must be running): the eventing controller, the MT
# channel-based broker's controller, ingress and filter, the in-memory channel's controller and
# dispatcher, and the ApiServerSource and PingSource adapters. Built from the vendored source in
# the shared folder (third_party/knative-eventing); see docs/knative-conformance.md.
#
#   scripts/knative-eventing.sh start   idempotent; cold: build about 2-4 min of CPU on 2 cores
#                                       (7-11 min wall on the shared machine), cached; warm about 20 s
#   scripts/knative-eventing.sh stop    ends only the pids this script (and its kubelet) recorded
#   scripts/knative-eventing.sh status  exit 0 when running, 3 when not
#   scripts/knative-eventing.sh env     prints the variables tests use (KNATIVE_LOCAL_*)
#   scripts/knative-eventing.sh build   only builds (cached), as start does first
#   scripts/knative-eventing.sh crds    applies Knative's CRDs again
#
# What stands in for a cluster, and why (no kubelet, kube-proxy or DNS here):
# - A network namespace (the "pod network"), made by this script, holds every Knative process
#   and the functions tests start: Knative's components listen on fixed ports (8080, 8443) that
#   must not collide with other programs on the machine. A veth pair joins it to the host:
#   host side .1, namespace side .2 of a /30 picked from the state dir's name.
# - Cluster-local names resolve through the namespace's own hosts file (`ip netns exec`
#   bind-mounts /etc/netns/<name>/hosts): each Service gets a 127.0.1.x address, where socat
#   maps its port 80 to the process's port (kube-proxy's part).
# - The API server (host loopback only) is reached from the namespace as
#   kubernetes.default.svc (a name in its certificate) through socat on the host side of the veth.
# - tests/knative/kubelet.py, run inside the namespace, runs Knative's own Deployments (ingress,
#   filter, imc-dispatcher, the PingSource and ApiServerSource adapters the controllers create)
#   as processes with the env of their pod template, each with its ServiceAccount's token, and
#   writes their status and Endpoints as a kubelet and endpoints controller would.
# - The controllers are started here directly (their Deployments are not applied) with
#   KUBERNETES_MIN_VERSION=v1.20.0, Knative's own override of its minimum-version check.
# - The webhook does not run (no admission path into the namespace): nothing defaults or
#   validates Knative objects, so the test overlay (eventing/overlays/knative-local) writes what
#   the defaulting webhook would have written.
#
# State in KNATIVE_LOCAL_DIR (default $PWD/.state/knative): logs, pid files, kubeconfigs.
# Binaries in ${XDG_CACHE_HOME:-$HOME/.cache}/iter8-knative-eventing/bin, keyed by the source
# archive's checksum. Source: KNATIVE_LOCAL_SOURCE (default ../shared/third_party/knative-eventing/
# knative-eventing-1.11.11-src.tar.xz next to the repository).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=$(realpath -m "${KNATIVE_LOCAL_DIR:-$PWD/.state/knative}")
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/iter8-knative-eventing
SOURCE=${KNATIVE_LOCAL_SOURCE:-$REPO/../shared/third_party/knative-eventing/knative-eventing-1.11.11-src.tar.xz}
KUBE_CONFIG=${KUBECONFIG:-$PWD/.state/kube/kubeconfig}
KUBECTL=${XDG_CACHE_HOME:-$HOME/.cache}/iter8-kube-local/bin/kubectl
PYTHON=${KNATIVE_LOCAL_PYTHON:-$REPO/.venv/bin/python}
BINARIES=(controller ingress filter mtchannel_broker channel_controller channel_dispatcher
  apiserver_receive_adapter mtping)
PACKAGES=(./cmd/controller ./cmd/broker/ingress ./cmd/broker/filter ./cmd/mtchannel_broker
  ./cmd/in_memory/channel_controller ./cmd/in_memory/channel_dispatcher
  ./cmd/apiserver_receive_adapter ./cmd/mtping)

HASH=$(printf '%s' "$STATE" | md5sum | cut -c1-6)
NETNS=${KNATIVE_LOCAL_NETNS:-iter8kn-$HASH}
OCTET=$((16#${HASH:0:2}))
HOST_IP=10.213.$OCTET.1
POD_IP=10.213.$OCTET.2
HOSTS=/etc/netns/$NETNS/hosts
# Services of the data plane: address inside the namespace, and the port its process listens on.
INGRESS_IP=127.0.1.1 INGRESS_PORT=8081
FILTER_IP=127.0.1.2 FILTER_PORT=8082
DISPATCHER_IP=127.0.1.3 DISPATCHER_PORT=8080

log() { printf 'knative-eventing.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- packages and binaries --------------------------------------------------------------------

ensure_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing packages (install them as root): ${missing[*]}"
  log "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

source_key() { sha256sum "$SOURCE" | cut -c1-16; }

ensure_binaries() {
  [ -f "$SOURCE" ] || die "no Knative Eventing source at $SOURCE (KNATIVE_LOCAL_SOURCE)"
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.lock"
  flock 8  # one build at a time
  local key bin=$CACHE/bin
  key=$(source_key)
  if [ "$(cat "$bin/.key" 2>/dev/null)" != "$key" ]; then
    ensure_packages golang-go xz-utils
    local t0=$SECONDS work
    work=$(mktemp -d "$CACHE/build.XXXXXX")
    log "building Knative Eventing's ${#BINARIES[@]} binaries (2-4 min of CPU; longer on a loaded machine)"
    tar -xJf "$SOURCE" -C "$work"
    (
      cd "$work"/knative-eventing-*
      # -s -w: no symbol table or DWARF (a panic still names its functions): 9 % less CPU,
      # binaries 503 -> 348 MB, peak RSS 809 -> 622 MB (docs/knative-conformance.md)
      GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 GOCACHE=$work/gocache \
        go build -ldflags="-s -w" -o "$work/bin/" "${PACKAGES[@]}" >"$work/build.log" 2>&1 ||
        { tail -n 30 "$work/build.log" >&2; exit 1; }
    )
    rm -rf "$bin" && mv "$work/bin" "$bin" && echo "$key" >"$bin/.key"
    rm -rf "$work"
    log "built in $((SECONDS - t0)) s"
  fi
  flock -u 8
}

# The config/ of the source (CRDs, config maps, Services, Deployments), extracted once per key.
ensure_config() {
  local key dir=$CACHE/config
  key=$(source_key)
  [ "$(cat "$dir/.key" 2>/dev/null)" = "$key" ] && return 0
  rm -rf "$dir" && mkdir -p "$dir.tmp"
  tar -xJf "$SOURCE" -C "$dir.tmp" --wildcards '*/config/*'
  mv "$dir.tmp"/knative-eventing-*/config "$dir" && rm -rf "$dir.tmp"
  echo "$key" >"$dir/.key"
}

# --- the pod network ----------------------------------------------------------------------------

# Each controller gets a namespace of its own, like a pod: every Knative main serves health probes
# on the fixed port 8080 and a profiling server on 8008 (the dispatcher needs 8080 too).
control_netns() { echo "${NETNS}c$1"; }          # INDEX (0..2)
control_host_ip() { echo "10.213.$OCTET.$((4 * $1 + 5))"; }
control_ip() { echo "10.213.$OCTET.$((4 * $1 + 6))"; }

netns_add() {  # NAME VETH_SUFFIX HOST_IP NS_IP: a namespace joined to the host by a veth pair
  local name=$1 host=vkh$2 peer=vkp$2
  ip netns list | grep -qw "$name" || ip netns add "$name"
  ip -n "$name" link set lo up
  if ! ip link show "$host" >/dev/null 2>&1; then
    ip link add "$host" type veth peer name "$peer" netns "$name"
    ip addr add "$3/30" dev "$host"
    ip -n "$name" addr add "$4/30" dev "$peer"
  fi
  ip link set "$host" up
  ip -n "$name" link set "$peer" up
  mkdir -p "/etc/netns/$name"
}

netns_up() {
  netns_add "$NETNS" "$HASH" "$HOST_IP" "$POD_IP"
  local i
  for i in 0 1 2; do
    netns_add "$(control_netns $i)" "${HASH}c$i" "$(control_host_ip $i)" "$(control_ip $i)"
    printf '127.0.0.1 localhost\n%s kubernetes.default.svc kubernetes.default.svc.cluster.local\n' \
      "$(control_host_ip $i)" >"/etc/netns/$(control_netns $i)/hosts"
  done
  mkdir -p "$STATE/hosts.d"
  cat >"$STATE/hosts.d/00-cluster.hosts" <<EOF
127.0.0.1 localhost
$HOST_IP kubernetes.default.svc kubernetes.default.svc.cluster.local
$INGRESS_IP broker-ingress.knative-eventing.svc.cluster.local broker-ingress.knative-eventing.svc
$FILTER_IP broker-filter.knative-eventing.svc.cluster.local broker-filter.knative-eventing.svc
$DISPATCHER_IP imc-dispatcher.knative-eventing.svc.cluster.local imc-dispatcher.knative-eventing.svc
EOF
  # written in place: `ip netns exec` bind-mounts this very inode over /etc/hosts
  cat "$STATE"/hosts.d/*.hosts >"$HOSTS"
}

netns_down() {
  local name i
  ip link del "vkh$HASH" 2>/dev/null || true
  for i in 0 1 2; do ip link del "vkh${HASH}c$i" 2>/dev/null || true; done
  for name in "$NETNS" "$(control_netns 0)" "$(control_netns 1)" "$(control_netns 2)"; do
    ip netns del "$name" 2>/dev/null || true
    rm -rf "/etc/netns/$name"
  done
}

# --- processes ----------------------------------------------------------------------------------

# A recorded pid counts only while that process still carries the mark it was started with
# (pids get reused): KNATIVE_LOCAL_MARK=<state dir>/<name> in its environment.
is_ours() {  # PIDFILE -> prints the pid if alive and ours
  local f=$1 pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/environ" ] || return 1
  tr '\0' '\n' <"/proc/$pid/environ" | grep -qxF "KNATIVE_LOCAL_MARK=${f%.pid}" || return 1
  echo "$pid"
}

our_pid() { is_ours "$STATE/$1.pid"; }

launch() {  # NAME [netns|host] COMMAND...: detached, pid and command line recorded
  local name=$1 where=$2
  shift 2
  rm -f "$STATE/$name.pid"
  local prefix=()
  [ "$where" = netns ] && prefix=(ip netns exec "$NETNS")
  case "$where" in control*) prefix=(ip netns exec "$(control_netns "${where#control}")") ;; esac
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
  setsid "${prefix[@]}" env KNATIVE_LOCAL_MARK="$STATE/$name" \
    bash -c 'echo $$ >"$0.tmp"; mv "$0.tmp" "$0"; exec "$@"' \
    "$STATE/$name.pid" "$@" </dev/null >>"$STATE/$name.log" 2>&1 &
  local _
  for _ in $(seq 50); do [ -s "$STATE/$name.pid" ] && return 0; sleep 0.1; done
  die "$name did not start"
}

stop_pidfile() {  # FILE: the process a pid file names, if it is still ours
  local pid _
  if pid=$(is_ours "$1"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

forward() {  # NAME netns|host LISTEN_IP LISTEN_PORT TARGET_IP TARGET_PORT (kube-proxy's part)
  our_pid "$1" >/dev/null && return 0
  launch "$1" "$2" socat -L "$STATE/$1.lock" \
    "TCP-LISTEN:$4,bind=$3,fork,reuseaddr" "TCP:$5:$6"
}

api_port() { sed -n 's#^ *server: https://[^:]*:\([0-9]*\).*#\1#p' "$KUBE_CONFIG" | head -n1; }

kubectl_() { "$KUBECTL" --kubeconfig "$KUBE_CONFIG" "$@"; }

# The admin kubeconfig, with the API server named as the namespace's processes reach it.
write_pod_kubeconfig() {
  sed "s#^\( *server: \)https://[^:]*:#\1https://kubernetes.default.svc:#" "$KUBE_CONFIG" \
    >"$STATE/kubeconfig.tmp"
  chmod 600 "$STATE/kubeconfig.tmp" && mv "$STATE/kubeconfig.tmp" "$STATE/kubeconfig"
}

# --- Knative's resources ------------------------------------------------------------------------

apply_knative() {
  local cfg=$CACHE/config
  kubectl_ apply -f "$cfg/core/100-namespace.yaml" >/dev/null
  kubectl_ apply -f "$cfg/core/resources/" -f "$cfg/channels/in-memory-channel/resources/" >/dev/null
  kubectl_ wait --for condition=established --timeout=60s crd --all >/dev/null
  kubectl_ apply -f "$cfg/core/configmaps/" \
    -f "$cfg/channels/in-memory-channel/configmaps/" >/dev/null
  # Knative's config maps with what this setup changes: the filters flag (the point of
  # Eventing 1.11 here) and delivery-retryafter (tests/knative/test_delivery.py's Trigger sets
  # retryAfterMax; 1.11's dispatcher honours the field whatever the flag, but a cluster's webhook
  # refuses it unless the flag is on; delivery-timeout is on by default); no metrics exporter and
  # no profiling server (processes sharing one network namespace would otherwise compete for
  # their ports).
  kubectl_ -n knative-eventing patch configmap config-features --type merge \
    -p '{"data":{"new-trigger-filters":"enabled","delivery-retryafter":"enabled"}}' >/dev/null
  kubectl_ -n knative-eventing patch configmap config-observability --type merge \
    -p '{"data":{"metrics.backend-destination":"none","profiling.enable":"false"}}' >/dev/null
  # The data plane's Deployments and Services as Knative ships them; the kubelet runs them.
  kubectl_ apply -f "$cfg/core/deployments/pingsource-mt-adapter.yaml" \
    -f "$cfg/core/200-pingsource-mt-adapter-serviceaccount.yaml" \
    -f "$cfg/brokers/mt-channel-broker/deployments/broker-ingress.yaml" \
    -f "$cfg/brokers/mt-channel-broker/deployments/broker-filter.yaml" \
    -f "$cfg/brokers/mt-channel-broker/roles/" \
    -f "$cfg/channels/in-memory-channel/deployments/dispatcher.yaml" \
    -f "$cfg/channels/in-memory-channel/deployments/dispatcher-service.yaml" \
    -f "$cfg/channels/in-memory-channel/200-imc-dispatcher-serviceaccount.yaml" \
    -f "$cfg/channels/in-memory-channel/roles/dispatcher-clusterrole.yaml" >/dev/null
  kubectl_ apply -f "$cfg/core/roles/" >/dev/null 2>&1 || true
}

CONTROLLER_ENV=(env SYSTEM_NAMESPACE=knative-eventing KUBERNETES_MIN_VERSION=v1.20.0
  CONFIG_LOGGING_NAME=config-logging CONFIG_OBSERVABILITY_NAME=config-observability
  METRICS_DOMAIN=knative.dev/eventing)

start_controllers() {
  local bin=$CACHE/bin
  our_pid controller >/dev/null || launch controller control0 "${CONTROLLER_ENV[@]}" KUBECONFIG="$STATE/kubeconfig" POD_NAME=controller \
    APISERVER_RA_IMAGE=ko://knative.dev/eventing/cmd/apiserver_receive_adapter \
    "$bin/controller"
  our_pid mt-broker-controller >/dev/null || launch mt-broker-controller control1 "${CONTROLLER_ENV[@]}" KUBECONFIG="$STATE/kubeconfig" \
    POD_NAME=mt-broker-controller "$bin/mtchannel_broker"
  our_pid imc-controller >/dev/null || launch imc-controller control2 "${CONTROLLER_ENV[@]}" KUBECONFIG="$STATE/kubeconfig" \
    POD_NAME=imc-controller WEBHOOK_NAME=inmemorychannel-webhook WEBHOOK_PORT=8446 \
    METRICS_DOMAIN=knative.dev/inmemorychannel-controller \
    DISPATCHER_IMAGE=ko://knative.dev/eventing/cmd/in_memory/channel_dispatcher \
    "$bin/channel_controller"
}

start_kubelet() {
  our_pid kubelet >/dev/null && return 0
  [ -x "$PYTHON" ] || die "no python with the project installed at $PYTHON (KNATIVE_LOCAL_PYTHON)"
  launch kubelet netns env PYTHONPATH="$REPO" KUBECONFIG="$STATE/kubeconfig" "$PYTHON" \
    -m tests.knative.kubelet --state "$STATE" --bin "$CACHE/bin" --pod-ip "$POD_IP" \
    --hosts "$HOSTS" --dispatcher-ip "$DISPATCHER_IP" \
    --port "broker/ingress=$INGRESS_PORT" --port "broker/filter=$FILTER_PORT"
}

probe() { curl -sf -m 2 -A kube-probe/1.20 "http://$POD_IP:$1/healthz" >/dev/null 2>&1; }

ready() { probe "$INGRESS_PORT" && probe "$FILTER_PORT" && probe "$DISPATCHER_PORT"; }

PROCESSES=(controller mt-broker-controller imc-controller kubelet api-forward control-api-forward0
  control-api-forward1 control-api-forward2   ingress-forward
  filter-forward dispatcher-forward)

running() {
  local name
  for name in "${PROCESSES[@]}"; do our_pid "$name" >/dev/null || return 1; done
  ready
}

cmd_start() {
  [ "$(id -u)" = 0 ] || die "needs root (ip netns)"
  [ -s "$KUBE_CONFIG" ] || die "no kubeconfig at $KUBE_CONFIG: run scripts/kube-apiserver.sh start"
  mkdir -p "$STATE"
  if running; then return 0; fi
  ensure_packages socat curl iproute2
  ensure_binaries
  ensure_config
  local t0=$SECONDS port
  port=$(api_port)
  netns_up
  write_pod_kubeconfig
  forward api-forward host "$HOST_IP" "$port" 127.0.0.1 "$port"
  local i
  for i in 0 1 2; do
    forward "control-api-forward$i" host "$(control_host_ip $i)" "$port" 127.0.0.1 "$port"
  done
  forward ingress-forward netns "$INGRESS_IP" 80 127.0.0.1 "$INGRESS_PORT"
  forward filter-forward netns "$FILTER_IP" 80 127.0.0.1 "$FILTER_PORT"
  forward dispatcher-forward netns "$DISPATCHER_IP" 80 127.0.0.1 "$DISPATCHER_PORT"
  apply_knative
  start_controllers
  start_kubelet
  local deadline=$((SECONDS + 120)) name
  until ready; do
    for name in "${PROCESSES[@]}"; do
      our_pid "$name" >/dev/null || { tail -n 20 "$STATE/$name.log" >&2; die "$name exited"; }
    done
    [ $SECONDS -lt $deadline ] || die "data plane not ready after 120 s (logs in $STATE)"
    sleep 0.5
  done
  log "ready in $((SECONDS - t0)) s; $(cmd_env | xargs)"
}

cmd_stop() {
  local name f
  stop_pidfile "$STATE/kubelet.pid"  # it ends its pods first
  for f in "$STATE"/pods/*.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
  for name in "${PROCESSES[@]}"; do stop_pidfile "$STATE/$name.pid"; done
  netns_down
}

cmd_status() {
  local name pid
  for name in "${PROCESSES[@]}"; do
    if pid=$(our_pid "$name"); then echo "$name: running (pid $pid)"; else echo "$name: stopped"; fi
  done
  if running; then echo "data plane: ready"; else echo "data plane: down"; return 3; fi
}

cmd_env() {
  echo "export KNATIVE_LOCAL_DIR=$STATE"
  echo "export KNATIVE_LOCAL_NETNS=$NETNS"
  echo "export KNATIVE_LOCAL_POD_IP=$POD_IP"
  echo "export KNATIVE_LOCAL_INGRESS=http://$POD_IP:$INGRESS_PORT"
}

# Knative Eventing's CRDs again (other tests may have replaced them with other versions).
cmd_crds() {
  ensure_config
  kubectl_ apply -f "$CACHE/config/core/resources/" \
    -f "$CACHE/config/channels/in-memory-channel/resources/" >/dev/null
}

case "${1:-}" in
  start) cmd_start ;;
  build) ensure_binaries && ensure_config ;;
  crds) cmd_crds ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop|status|env|build|crds" >&2; exit 2 ;;
esac
