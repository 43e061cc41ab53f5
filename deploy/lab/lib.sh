# shellcheck shell=bash
# Shared by every lab command: names, addresses, the state directory and how
# lab processes are started, recorded and stopped. Sourced, never executed.
#
# It must not build or change the network itself (`up`, `inject`, `restore`
# do that) and it must never touch anything outside the lab's namespaces,
# its state directory and /etc/netns/<lab namespace>/.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY_DIR="$LAB_DIR/py"

P=${VIGIL_LAB_PREFIX:-vgl}
if ! [[ $P =~ ^[a-z][a-z0-9]{0,9}$ ]]; then
  echo "lab: VIGIL_LAB_PREFIX=\"$P\" is not a valid prefix; use 1-10 lower-case letters or digits starting with a letter, e.g. VIGIL_LAB_PREFIX=vgl" >&2
  exit 2
fi
STATE=/run/vigil-lab-$P

NS_HUB=$P-hub
NS_INET=$P-inet
# Every spoke the lab can have; a lab runs the first N of them (2..6, default
# 3). `up --spokes N` records N in $STATE/spokes so every later command sees
# the same spokes.
ALL_SPOKES=(spoke-a spoke-b spoke-c spoke-d spoke-e spoke-f)
MIN_SPOKES=2
MAX_SPOKES=6
set_spokes() { SPOKES=("${ALL_SPOKES[@]:0:$1}"); }
if [ -s "$STATE/spokes" ]; then
  set_spokes "$(cat "$STATE/spokes")"
else
  set_spokes 3
fi
# "spoke-a, spoke-b or spoke-c": the spokes of this lab, for error messages.
spokes_phrase() {
  local n=${#SPOKES[@]}
  local IFS=,
  local head="${SPOKES[*]:0:$((n - 1))}"
  echo "${head//,/, } or ${SPOKES[$((n - 1))]}"
}

# 1-based position of a spoke of this lab (spoke-a is 1); fails for others.
# It numbers the spoke's 10.(10+i).0.0/16 and its route-wrong shortcut /30
# out of 192.0.2.0/24.
spoke_index() {
  local i
  for i in "${!SPOKES[@]}"; do
    [ "${SPOKES[$i]}" = "$1" ] && { echo $((i + 1)); return 0; }
  done
  return 1
}
# Second octet of each spoke's addresses; the hub is 10.10.0.0/24.
spoke_octet() {
  local i
  i=$(spoke_index "$1") || return 1
  echo $((10 + i))
}
ns_of() {
  case $1 in
    hub) echo "$NS_HUB" ;;
    inet) echo "$NS_INET" ;;
    *) spoke_index "$1" >/dev/null && echo "$P-$1" ;;
  esac
}
# Namespaces of the running lab.
lab_ns() { echo "$NS_HUB" "$NS_INET" "${SPOKES[@]/#/$P-}"; }
# Every namespace a lab with this prefix may have made, whatever its spoke
# count: `down` and the leftover check look at all of them.
all_ns() { echo "$NS_HUB" "$NS_INET" "${ALL_SPOKES[@]/#/$P-}"; }

# Hub addresses.
FW_IP=10.10.0.4
DNS_IP=10.10.0.53
HUB_SVC_IP=10.10.0.20
HUB_SVC_PORT=443
AGG_IP=10.10.0.100
# The hub's public side and the "internet".
EGRESS_IP=198.51.100.1
INET_GW_IP=198.51.100.254
ALLOWED_IP=203.0.113.10
FORBIDDEN_IP=203.0.113.66
PUBLIC_KV_IP=203.0.113.30
WORKLOAD_PORT=8080
SENTINEL_PORT=7000
NFT_TABLE="inet vigil_lab"
NFT_NAT="ip vigil_lab_nat"
# Loss in the hub's forwarding (hub-loss, noise): a chain of its own that runs
# before the firewall's, so the firewall's rules stay as written.
NFT_LOSS="inet vigil_lab_loss"
# Egress address the firewall wrongly SNATs to while snat-wrong is injected.
WRONG_EGRESS_IP=198.51.100.9
# The alert webhook receiver of `up --webhook` (beside the aggregator).
WEBHOOK_PORT=7409

log() { echo "lab: $*" >&2; }
die() {
  echo "lab: error: $*" >&2
  exit 1
}

require_root() {
  [ "$(id -u)" = 0 ] || die "the lab creates network namespaces and must run as root (try: sudo $0 $*)"
}

# Finds a tool even when /usr/sbin is not on PATH (non-login root shells).
find_tool() {
  local t=$1
  command -v "$t" 2>/dev/null && return 0
  for d in /usr/sbin /sbin /usr/local/sbin; do
    [ -x "$d/$t" ] && { echo "$d/$t"; return 0; }
  done
  return 1
}

# Installs a Debian package when its tool is missing. dnsmasq comes from
# dnsmasq-base: the full `dnsmasq` package would also enable a host-wide
# resolver service, and the lab must not change the host.
ensure_tool() {
  local tool=$1 pkg=$2
  find_tool "$tool" >/dev/null && return 0
  command -v apt-get >/dev/null 2>&1 || die "$tool is missing and apt-get is not available; install the package that provides $tool ($pkg on Debian)"
  log "installing $pkg (provides $tool)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null || die "could not install $pkg; install it by hand (apt-get install $pkg) and retry"
  fi
  find_tool "$tool" >/dev/null || die "$pkg was installed but $tool is still not found"
}

nsx() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# Runs the lab's probe helper inside a namespace (see py/probe.py).
probe_in() {
  local ns=$1
  shift
  ip netns exec "$ns" python3 "$PY_DIR/probe.py" "$@"
}

# Waits for a command to succeed, polling until a deadline, so nothing
# depends on a lucky sleep.
eventually() {
  local deadline_s=$1
  shift
  local end=$((SECONDS + deadline_s))
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ $SECONDS -ge $end ] && return 1
    sleep 0.2
  done
}

# ---- lab processes -------------------------------------------------------
# Every process the lab starts is a "service" recorded under $STATE/svc:
# NAME.ns (its namespace), NAME.cmd (the command, shell-quoted, so restore
# can start it again) and NAME.pid.

svc_start() {
  local name=$1 ns=$2
  shift 2
  mkdir -p "$STATE/svc" "$STATE/log"
  printf '%q ' "$@" >"$STATE/svc/$name.cmd"
  echo "$ns" >"$STATE/svc/$name.ns"
  svc_launch "$name"
}

svc_launch() {
  local name=$1 ns pidfile
  ns=$(cat "$STATE/svc/$name.ns")
  pidfile="$STATE/svc/$name.pid"
  rm -f "$pidfile"
  local -a cmd
  eval "cmd=( $(cat "$STATE/svc/$name.cmd") )"
  # A new session keeps Ctrl-C at the terminal away from the lab's services;
  # `up` tears them down itself. The pid is written by the process that then
  # becomes the service (exec), so it is exact.
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$1.tmp" && mv "$1.tmp" "$1"; shift; exec ip netns exec "$@"' \
    _ "$pidfile" "$ns" "${cmd[@]}" >>"$STATE/log/$name.log" 2>&1 </dev/null &
  eventually 5 test -s "$pidfile" || die "service $name did not start; see $STATE/log/$name.log"
}

svc_pid() { cat "$STATE/svc/$1.pid" 2>/dev/null || true; }

svc_alive() {
  local pid
  pid=$(svc_pid "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Kills one pid only if it still lives in one of this lab's namespaces: a
# recycled pid belonging to something else is left alone.
kill_lab_pid() {
  local pid=$1 where ns ours=0
  kill -0 "$pid" 2>/dev/null || return 0
  where=$(ip netns identify "$pid" 2>/dev/null || true)
  for ns in $(all_ns); do
    [ "$where" = "$ns" ] && ours=1
  done
  [ $ours = 1 ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local end=$((SECONDS + 3))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  # Wait for the kernel to reap it so a restart can bind the same address.
  end=$((SECONDS + 3))
  while [ -e "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && [ $SECONDS -lt $end ]; do sleep 0.1; done
}

svc_stop() {
  local name=$1 pid
  pid=$(svc_pid "$name")
  [ -n "$pid" ] && kill_lab_pid "$pid"
  rm -f "$STATE/svc/$name.pid"
}

svc_known() { [ -f "$STATE/svc/$1.cmd" ]; }

lab_exists() { [ -d "$STATE" ] && [ -f "$STATE/up.done" ]; }
require_lab() {
  lab_exists || die "no lab is running with prefix $P; start it with $LAB_DIR/up"
}
