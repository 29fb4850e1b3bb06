#!/usr/bin/env bash
# A real etcd + kube-apiserver 1.20.2 on 127.0.0.1 for tests (envtest-style: no kubelet, no
# controllers). Built from Debian bookworm's `kubernetes` source, because nothing else on the
# package registries ships an API server; see shared/reference/kube-apiserver-for-tests.md.
#
#   scripts/kube-apiserver.sh start    idempotent; cold 4-8 min (build; 1.3 GB RAM), warm about 5 s
#   scripts/kube-apiserver.sh stop     ends only the pids this script recorded
#   scripts/kube-apiserver.sh status   exit 0 when healthy, 3 when not running
#   scripts/kube-apiserver.sh env      prints `export KUBECONFIG=...`
#   scripts/kube-apiserver.sh kubectl ARGS...   Debian's kubectl 1.20.2 on this server
#
# Files in the state dir (KUBE_LOCAL_DIR, default $PWD/.state/kube):
#   kubeconfig          user iter8-admin, group system:masters (token auth, CA embedded)
#   kubeconfig-tester   user iter8-tester, no groups: RBAC denies it everything until a test
#                       grants it a Role, so RBAC rules can be tested
#   pki/ *.log *.pid    certs and tokens.csv, server logs, the pids that `stop` ends
# etcd's data is wiped on every start. Binaries are cached in
# ${XDG_CACHE_HOME:-$HOME/.cache}/iter8-kube-local/bin (KUBE_LOCAL_SEED=file.xz seeds the
# apiserver binary instead of building it). Ports: KUBE_LOCAL_API_PORT (16443),
# KUBE_LOCAL_ETCD_PORT (12379), KUBE_LOCAL_ETCD_PEER_PORT (12380).
set -euo pipefail

STATE=$(realpath -m "${KUBE_LOCAL_DIR:-$PWD/.state/kube}")
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/iter8-kube-local
API_PORT=${KUBE_LOCAL_API_PORT:-16443}
ETCD_PORT=${KUBE_LOCAL_ETCD_PORT:-12379}
ETCD_PEER_PORT=${KUBE_LOCAL_ETCD_PEER_PORT:-12380}
MIRROR=${KUBE_LOCAL_DEBIAN_MIRROR:-http://deb.debian.org}
APISERVER=$CACHE/bin/kube-apiserver
KUBECTL=$CACHE/bin/kubectl
PKI=$STATE/pki

log() { printf 'kube-apiserver.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- packages ---------------------------------------------------------------------------------

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

ensure_packages() {
  local missing
  missing=$(missing_packages "$@" | xargs)
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || die "missing packages (install them as root): $missing"
  log "installing: $missing"
  apt-get update -qq
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# apt-get source needs deb-src lines; use a private list so the system's sources stay untouched.
private_apt() {
  local dir=$CACHE/apt
  mkdir -p "$dir/lists/partial"
  local key=/usr/share/keyrings/debian-archive-keyring.gpg
  cat >"$dir/sources.list" <<EOF
deb-src [signed-by=$key] $MIRROR/debian bookworm main
deb-src [signed-by=$key] $MIRROR/debian bookworm-updates main
deb-src [signed-by=$key] $MIRROR/debian-security bookworm-security main
EOF
  apt-get -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$dir/lists" -o APT::Sandbox::User=root "$@"
}

# Downloads into the cache as root: the _apt sandbox user may not write there.
apt_download() { apt-get -o APT::Sandbox::User=root download -qq "$@"; }

# --- binaries ---------------------------------------------------------------------------------

build_apiserver() {
  local t0=$SECONDS
  BUILD_DIR=$(mktemp -d "$CACHE/build.XXXXXX")
  trap 'rm -rf "$BUILD_DIR"' EXIT  # the 3.4 GB tree goes away even when the build fails
  build_in "$BUILD_DIR"
  rm -rf "$BUILD_DIR"
  trap - EXIT
  mv "$APISERVER.tmp" "$APISERVER"
  log "built $("$APISERVER" --version) in $((SECONDS - t0)) s"
}

build_in() {  # WORKDIR: runs in a subshell; leaves $APISERVER.tmp
  local work=$1
  (
    cd "$work"
    private_apt update -qq
    private_apt source -qq kubernetes >/dev/null
    apt_download golang-github-modern-go-reflect2-dev
    dpkg-deb -x golang-github-modern-go-reflect2-dev_*.deb reflect2
    local src
    src=$(find . -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
    [ -n "$src" ] || die "apt-get source kubernetes gave no source tree"
    # reflect2 1.0.1 (vendored) crashes under Go >= 1.18 on the first custom-resource create.
    rm -rf "$src/vendor/github.com/modern-go/reflect2"
    cp -r reflect2/usr/share/gocode/src/github.com/modern-go/reflect2 \
      "$src/vendor/github.com/modern-go/reflect2"
    cd "$src"
    log "building kube-apiserver (about 3-4 min)"
    CGO_ENABLED=0 GOPROXY=off make WHAT=cmd/kube-apiserver >"$work/build.log" 2>&1 ||
      { tail -n 30 "$work/build.log" >&2; exit 1; }
    cp _output/bin/kube-apiserver "$APISERVER.tmp"
  )
}

ensure_binaries() {
  mkdir -p "$CACHE/bin"
  exec 9>"$CACHE/.lock"
  flock 9  # one build at a time, even with several concurrent starts
  if [ ! -x "$APISERVER" ] && [ -n "${KUBE_LOCAL_SEED:-}" ]; then
    ensure_packages xz-utils
    xz -dc "$KUBE_LOCAL_SEED" >"$APISERVER.tmp" && chmod +x "$APISERVER.tmp"
    mv "$APISERVER.tmp" "$APISERVER"
  fi
  if [ ! -x "$APISERVER" ]; then
    ensure_packages golang-go rsync make jq dpkg-dev
    build_apiserver
  fi
  if [ ! -x "$KUBECTL" ]; then
    # Debian's kubernetes-client clashes with the cloud SDK's /usr/bin/kubectl: extract it.
    local work
    work=$(mktemp -d "$CACHE/kubectl.XXXXXX")
    (cd "$work" && apt_download kubernetes-client && dpkg-deb -x kubernetes-client_*.deb x)
    cp "$work/x/usr/bin/kubectl" "$KUBECTL.tmp" && mv "$KUBECTL.tmp" "$KUBECTL"
    rm -rf "$work"
  fi
  flock -u 9
}

# --- certificates and credentials -------------------------------------------------------------

ensure_pki() {
  [ -s "$PKI/tokens.csv" ] && return 0
  mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=iter8-kube-local-ca \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
      -keyout apiserver.key -out apiserver.csr 2>/dev/null
    printf '%s\n' \
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.0.0.1' \
      'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' \
      'extendedKeyUsage=serverAuth' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    printf '%s,iter8-admin,iter8-admin,"system:masters"\n%s,iter8-tester,iter8-tester\n' \
      "$(openssl rand -hex 24)" "$(openssl rand -hex 24)" >tokens.csv.tmp
    chmod 600 ./*.key tokens.csv.tmp
    mv tokens.csv.tmp tokens.csv
  )
}

token_of() { awk -F, -v u="$1" '$2 == u { print $1 }' "$PKI/tokens.csv"; }

write_kubeconfig() {  # FILE USER
  local ca
  ca=$(base64 -w0 "$PKI/ca.crt")
  cat >"$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: iter8-kube-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $ca
users:
- name: $2
  user:
    token: $(token_of "$2")
contexts:
- name: $2@iter8-kube-local
  context: {cluster: iter8-kube-local, user: $2, namespace: default}
current-context: $2@iter8-kube-local
EOF
  chmod 600 "$1.tmp" && mv "$1.tmp" "$1"
}

# --- processes --------------------------------------------------------------------------------

# A recorded pid counts only while it still runs our command line (pids get reused).
our_pid() {  # NAME -> prints the pid if alive and ours
  local f=$STATE/$1.pid pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE" || return 1
  echo "$pid"
}

launch() {  # NAME COMMAND... : detached (own session, no inherited stdio), pid recorded
  local name=$1
  shift
  rm -f "$STATE/$name.pid"
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/$name.pid" "$@" \
    </dev/null >"$STATE/$name.log" 2>&1 &
  local _
  for _ in $(seq 50); do [ -s "$STATE/$name.pid" ] && return 0; sleep 0.1; done
  die "$name did not start"
}

readyz() {
  [ -s "$PKI/tokens.csv" ] || return 1
  curl -sf -m 2 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(token_of iter8-admin)" \
    "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}

wait_for() {  # NAME SECONDS COMMAND...
  local name=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@"; do
    our_pid "$name" >/dev/null || { tail -n 20 "$STATE/$name.log" >&2; die "$name exited"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$STATE/$name.log" >&2; die "$name not ready"; }
    sleep 0.2
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

etcd_healthy() { curl -sf -m 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"true"'; }

stop_one() {
  local pid _
  pid=$(our_pid "$1") || { rm -f "$STATE/$1.pid"; return 0; }
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$STATE/$1.pid"
}

healthy() { our_pid etcd >/dev/null && our_pid apiserver >/dev/null && readyz; }

cmd_start() {
  if healthy; then return 0; fi
  mkdir -p "$STATE"
  stop_one apiserver
  stop_one etcd
  ensure_packages etcd-server openssl curl
  ensure_binaries
  ensure_pki
  local p
  for p in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    port_free "$p" || die "127.0.0.1:$p is in use by a process this script did not start"
  done
  rm -rf "$STATE/etcd"
  local t0=$SECONDS
  launch etcd etcd --name kube-local --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kube-local=http://127.0.0.1:$ETCD_PEER_PORT"
  wait_for etcd 30 etcd_healthy
  launch apiserver "$APISERVER" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" --advertise-address=127.0.0.1 \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
    --disable-admission-plugins=ServiceAccount --cert-dir="$STATE/certs"
  wait_for apiserver 90 readyz
  write_kubeconfig "$STATE/kubeconfig" iter8-admin
  write_kubeconfig "$STATE/kubeconfig-tester" iter8-tester
  log "ready in $((SECONDS - t0)) s at https://127.0.0.1:$API_PORT; $(cmd_env)"
}

cmd_stop() {
  stop_one apiserver
  stop_one etcd
}

cmd_status() {
  local name pid
  for name in etcd apiserver; do
    if pid=$(our_pid "$name"); then echo "$name: running (pid $pid)"; else echo "$name: stopped"; fi
  done
  if healthy; then echo "readyz: ok (https://127.0.0.1:$API_PORT)"; else echo "readyz: down"; return 3; fi
}

cmd_env() { echo "export KUBECONFIG=$STATE/kubeconfig"; }

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  kubectl) shift; [ -x "$KUBECTL" ] || die "run start first"; KUBECONFIG=$STATE/kubeconfig exec "$KUBECTL" "$@" ;;
  *) echo "usage: $0 start|stop|status|env|kubectl ARGS..." >&2; exit 2 ;;
esac
