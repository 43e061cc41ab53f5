# shellcheck shell=bash
# The lab's faults: how each is injected into the running lab and how it is
# restored. Sourced by `inject` and `restore` after lib.sh; owns every fault's
# change to the network and its undoing, nothing else.
#
# Each fault changes exactly one thing a real hub-spoke estate can lose and
# records itself under $STATE/faults so `restore --all` can undo it. It must
# not rebuild the lab nor touch anything outside the lab's namespaces.

FAULTS_HELP="peering-down:SPOKE     the spoke's peering veth goes down (platform: that spoke's connectivity)
fw-rule-removed        the firewall's allow rule to $ALLOWED_IP:80,443 is removed (platform: hub firewall policy)
fw-drift               the firewall accepts the forbidden $FORBIDDEN_IP:80 (platform: hub firewall policy, security)
fw-loss:PCT            the firewall drops PCT% of forwarded packets, 1-100 (platform: hub firewall)
dns-down               the hub resolver (dnsmasq) is stopped (platform: hub DNS)
dns-public:NAME        a private record answers the public address (platform: private DNS zone)
dns-deleted:NAME       a private record is deleted, NXDOMAIN (platform: private DNS zone)
route-wrong:SPOKE      the spoke's 0.0.0.0/0 goes out a shortcut, not the firewall (platform: that spoke's connectivity)
workload-kill:SPOKE    the spoke's workload process is killed (workload)
workload-slow:SPOKE    the spoke's workload answers after 2 s (workload)
workload-5xx:SPOKE     the spoke's workload answers 503 (workload)
agent-kill:NET         the Vigil agent in hub or SPOKE is killed, needs up --with-vigil (observability gap)
hub-loss:PCT           the hub drops PCT% of every packet it forwards, 1-100 (platform: hub firewall, intermittent)
route-blackhole:SPOKE  the spoke's routes out (0/0, 10/8, the hub's peering address) are blackholes (platform: that spoke's connectivity)
snat-wrong             the firewall SNATs egress to $WRONG_EGRESS_IP, not $EGRESS_IP (platform: hub firewall)
hub-unreach:SPOKE      the hub's route to the spoke answers ICMP network unreachable, peering up (platform: that spoke's connectivity)
noise:PCT              background noise: workloads answer 503 and spoke egress drops PCT% at random, 1-50 (none)
SPOKE is $(spokes_phrase); NAME is a record of the private zone, e.g. kv.privatelink.vault.test"

need_spoke() {
  spoke_octet "$1" >/dev/null 2>&1 || die "\"$1\" is not a spoke; use $(spokes_phrase) (e.g. $FAULT_KIND:spoke-a)"
}
need_pct() {
  local max=${2:-100}
  [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$max" ] ||
    die "$FAULT_KIND needs a percentage from 1 to $max, e.g. $FAULT_KIND:30 (got \"$1\")"
}

# ---- firewall rules, found by their comment -----------------------------------
nft_handle() {
  nsx "$NS_HUB" nft -a list chain $NFT_TABLE forward |
    awk -v c="comment \"$1\"" 'index($0, c) { print $NF }' | head -n1
}
nft_delete() {
  local h
  while h=$(nft_handle "$1") && [ -n "$h" ]; do
    nsx "$NS_HUB" nft delete rule $NFT_TABLE forward handle "$h"
  done
}
# The same for any chain: TABLE ("family name") and CHAIN given.
nft_handle_in() {
  # shellcheck disable=SC2086 # the table is "family name"
  nsx "$NS_HUB" nft -a list chain $1 "$2" |
    awk -v c="comment \"$3\"" 'index($0, c) { print $NF }' | head -n1
}
nft_delete_in() {
  local h
  while h=$(nft_handle_in "$1" "$2" "$3") && [ -n "$h" ]; do
    # shellcheck disable=SC2086
    nsx "$NS_HUB" nft delete rule $1 "$2" handle "$h"
  done
}

# ---- DNS records ---------------------------------------------------------------
need_private_record() {
  local name=$1
  awk -v n="$name" '$2 == n { found = 1 } END { exit !found }' "$STATE/dns/hosts.orig" ||
    die "\"$name\" is not a record of the lab's zones; use one of: $(awk '$2 ~ /privatelink/ { printf "%s ", $2 }' "$STATE/dns/hosts.orig")"
  [[ $name == *.privatelink.* ]] || die "\"$name\" is not in the private zone privatelink.vault.test; use e.g. kv.privatelink.vault.test"
}
# Replaces (or with an empty IP removes) a record, then makes dnsmasq re-read
# its hosts file. A stopped resolver reads the file when it starts again.
hosts_set() {
  local name=$1 ip=$2 tmp="$STATE/dns/hosts.tmp"
  awk -v n="$name" '$2 != n' "$STATE/dns/hosts" >"$tmp"
  [ -n "$ip" ] && echo "$ip $name" >>"$tmp"
  mv "$tmp" "$STATE/dns/hosts"
  if svc_alive dns; then kill -HUP "$(svc_pid dns)"; fi
}
hosts_restore() {
  local name=$1 ip
  ip=$(awk -v n="$name" '$2 == n { print $1 }' "$STATE/dns/hosts.orig")
  hosts_set "$name" "$ip"
}
public_address_of() {
  local pub=${1/.privatelink./.} ip
  ip=$(awk -v n="$pub" '$2 == n { print $1 }' "$STATE/dns/hosts.orig")
  echo "${ip:-$PUBLIC_KV_IP}"
}

# ---- services --------------------------------------------------------------------
svc_ensure_running() {
  local name=$1
  svc_alive "$name" && return 0
  svc_launch "$name"
}

set_workload_mode() { echo "$2" >"$STATE/workload/$1.mode"; }

# ---- the shortcut for route-wrong --------------------------------------------------
shortcut_addrs() {
  local i
  i=$(spoke_index "$1")
  SC_NET_IP="192.0.2.$((4 * i + 1))"
  SC_SPOKE_IP="192.0.2.$((4 * i + 2))"
}

# ---- inject / restore --------------------------------------------------------------
fault_inject() {
  local kind=$1 arg=$2 ns
  case $kind in
    peering-down)
      need_spoke "$arg"
      ip -n "$NS_HUB" link set "to-$arg" down
      ;;
    fw-rule-removed)
      [ -z "$arg" ] || die "fw-rule-removed takes no argument"
      nft_delete vigil:allow-egress
      ;;
    fw-drift)
      [ -z "$arg" ] || die "fw-drift takes no argument"
      nft_delete vigil:drift
      nsx "$NS_HUB" nft add rule $NFT_TABLE forward iifname '"to-spoke-*"' oifname '"to-inet"' \
        ip daddr "$FORBIDDEN_IP" tcp dport 80 accept comment '"vigil:drift"'
      ;;
    fw-loss)
      [[ $arg =~ ^[0-9]+$ ]] && [ "$arg" -ge 1 ] && [ "$arg" -le 100 ] ||
        die "fw-loss needs a percentage from 1 to 100, e.g. fw-loss:30 (got \"$arg\")"
      nft_delete vigil:loss
      # Inserted first so it also hits established flows, like a firewall
      # that runs out of capacity.
      if [ "$arg" = 100 ]; then
        nsx "$NS_HUB" nft insert rule $NFT_TABLE forward drop comment '"vigil:loss"'
      else
        nsx "$NS_HUB" nft insert rule $NFT_TABLE forward numgen random mod 100 '<' "$arg" drop comment '"vigil:loss"'
      fi
      ;;
    dns-down)
      [ -z "$arg" ] || die "dns-down takes no argument"
      svc_stop dns
      ;;
    dns-public)
      need_private_record "$arg"
      hosts_set "$arg" "$(public_address_of "$arg")"
      ;;
    dns-deleted)
      need_private_record "$arg"
      hosts_set "$arg" ""
      ;;
    route-wrong)
      need_spoke "$arg"
      ns=$(ns_of "$arg")
      shortcut_addrs "$arg"
      if ! ip -n "$ns" link show shortcut >/dev/null 2>&1; then
        ip -n "$ns" link add shortcut type veth peer name "sc-$arg" netns "$NS_INET"
        ip -n "$ns" addr add "$SC_SPOKE_IP/30" dev shortcut
        ip -n "$NS_INET" addr add "$SC_NET_IP/30" dev "sc-$arg"
        ip -n "$ns" link set shortcut up
        ip -n "$NS_INET" link set "sc-$arg" up
        # The spoke's own outbound address, like a default outbound IP that
        # is not the firewall's.
        nsx "$ns" nft -f - <<NFT
table ip vigil_lab_shortcut {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "shortcut" masquerade comment "vigil:shortcut-snat"
  }
}
NFT
      fi
      ip -n "$ns" route replace default via "$SC_NET_IP" dev shortcut
      ;;
    workload-kill)
      need_spoke "$arg"
      svc_stop "workload-$arg"
      ;;
    workload-slow)
      need_spoke "$arg"
      set_workload_mode "$arg" slow
      ;;
    workload-5xx)
      need_spoke "$arg"
      set_workload_mode "$arg" 5xx
      ;;
    agent-kill)
      ns_of "$arg" >/dev/null 2>&1 && [ "$arg" != inet ] || die "\"$arg\" is not an agent's network; use hub or $(spokes_phrase)"
      svc_known "agent-$arg" || die "no Vigil agent runs in $arg: start the lab with $LAB_DIR/up --with-vigil BIN_DIR"
      svc_stop "agent-$arg"
      ;;
    hub-loss)
      need_pct "$arg"
      nft_delete_in "$NFT_LOSS" forward vigil:hub-loss
      # Every forwarded packet, spoke to spoke and spoke to internet alike;
      # what the hub delivers to itself (DNS, hub service) is not forwarded.
      if [ "$arg" = 100 ]; then
        nsx "$NS_HUB" nft add rule $NFT_LOSS forward drop comment '"vigil:hub-loss"'
      else
        nsx "$NS_HUB" nft add rule $NFT_LOSS forward numgen random mod 100 '<' "$arg" drop comment '"vigil:hub-loss"'
      fi
      ;;
    route-blackhole)
      need_spoke "$arg"
      ns=$(ns_of "$arg")
      # Everything leaving the spoke is dropped, and so are the replies to
      # anything coming in: other spokes (10/8), the internet (0/0) and the
      # hub itself, which talks to the spoke from its peering address.
      ip -n "$ns" route replace blackhole default
      ip -n "$ns" route replace blackhole 10.0.0.0/8
      ip -n "$ns" route replace blackhole "10.$(spoke_octet "$arg").0.1/32"
      ;;
    snat-wrong)
      [ -z "$arg" ] || die "snat-wrong takes no argument"
      # The wrong address sits on the hub's lo so the internet's replies to
      # it are answered by ARP and come back (conntrack un-NATs them).
      ip -n "$NS_HUB" addr replace "$WRONG_EGRESS_IP/32" dev lo
      nft_delete_in "$NFT_NAT" postrouting vigil:egress-snat
      nft_delete_in "$NFT_NAT" postrouting vigil:egress-snat-wrong
      nsx "$NS_HUB" nft add rule $NFT_NAT postrouting oifname '"to-inet"' ip saddr 10.0.0.0/8 \
        snat to "$WRONG_EGRESS_IP" comment '"vigil:egress-snat-wrong"'
      ;;
    hub-unreach)
      need_spoke "$arg"
      # The hub's connected route to the spoke becomes a `throw` route: the
      # lookup ends with no route, so the hub answers ICMP network
      # unreachable (an `unreachable` route would answer host unreachable).
      # The peering link stays up.
      ip -n "$NS_HUB" route replace throw "10.$(spoke_octet "$arg").0.0/24"
      ;;
    noise)
      need_pct "$arg" 50
      echo "$arg" >"$STATE/workload/noise"
      nft_delete_in "$NFT_LOSS" forward vigil:noise
      nsx "$NS_HUB" nft add rule $NFT_LOSS forward iifname '"to-spoke-*"' oifname '"to-inet"' \
        numgen random mod 100 '<' "$arg" drop comment '"vigil:noise"'
      ;;
    *) die "unknown fault \"$kind\"; see $LAB_DIR/inject --list" ;;
  esac
}

fault_restore() {
  local kind=$1 arg=$2 ns
  case $kind in
    peering-down)
      need_spoke "$arg"
      ip -n "$NS_HUB" link set "to-$arg" up
      ;;
    fw-rule-removed)
      if [ -z "$(nft_handle vigil:allow-egress)" ]; then
        nsx "$NS_HUB" nft add rule $NFT_TABLE forward iifname '"to-spoke-*"' oifname '"to-inet"' \
          ip daddr "$ALLOWED_IP" tcp dport '{ 80, 443 }' accept comment '"vigil:allow-egress"'
      fi
      ;;
    fw-drift) nft_delete vigil:drift ;;
    fw-loss) nft_delete vigil:loss ;;
    dns-down)
      svc_ensure_running dns
      eventually 10 bash -c "ip netns exec $NS_HUB python3 $PY_DIR/probe.py dns svc.hub.test --timeout 0.5 | grep -q ^NOERROR" ||
        die "dnsmasq did not answer after restart; see $STATE/log/dns.log"
      ;;
    dns-public | dns-deleted)
      need_private_record "$arg"
      hosts_restore "$arg"
      ;;
    route-wrong)
      need_spoke "$arg"
      ns=$(ns_of "$arg")
      ip -n "$ns" route replace default via "$FW_IP" dev to-hub onlink
      ip -n "$ns" link del shortcut 2>/dev/null || true
      nsx "$ns" nft delete table ip vigil_lab_shortcut 2>/dev/null || true
      ;;
    workload-kill)
      need_spoke "$arg"
      svc_ensure_running "workload-$arg"
      local o
      o=$(spoke_octet "$arg")
      eventually 10 bash -c "ip netns exec $(ns_of "$arg") python3 $PY_DIR/probe.py tcp 10.$o.0.10:$WORKLOAD_PORT --timeout 0.5 | grep -q ^OPEN" ||
        die "workload in $arg did not come back; see $STATE/log/workload-$arg.log"
      ;;
    workload-slow | workload-5xx)
      need_spoke "$arg"
      set_workload_mode "$arg" ok
      ;;
    agent-kill)
      svc_known "agent-$arg" || die "no Vigil agent runs in $arg: start the lab with $LAB_DIR/up --with-vigil BIN_DIR"
      svc_ensure_running "agent-$arg"
      ;;
    hub-loss) nft_delete_in "$NFT_LOSS" forward vigil:hub-loss ;;
    route-blackhole)
      need_spoke "$arg"
      ns=$(ns_of "$arg")
      ip -n "$ns" route del blackhole "10.$(spoke_octet "$arg").0.1/32" 2>/dev/null || true
      ip -n "$ns" route replace 10.0.0.0/8 via "$FW_IP" dev to-hub onlink
      ip -n "$ns" route replace default via "$FW_IP" dev to-hub onlink
      ;;
    snat-wrong)
      nft_delete_in "$NFT_NAT" postrouting vigil:egress-snat-wrong
      if [ -z "$(nft_handle_in "$NFT_NAT" postrouting vigil:egress-snat)" ]; then
        nsx "$NS_HUB" nft add rule $NFT_NAT postrouting oifname '"to-inet"' ip saddr 10.0.0.0/8 \
          snat to "$EGRESS_IP" comment '"vigil:egress-snat"'
      fi
      ip -n "$NS_HUB" addr del "$WRONG_EGRESS_IP/32" dev lo 2>/dev/null || true
      ;;
    hub-unreach)
      need_spoke "$arg"
      local o
      o=$(spoke_octet "$arg")
      ip -n "$NS_HUB" route del throw "10.$o.0.0/24" 2>/dev/null || true
      ip -n "$NS_HUB" route replace "10.$o.0.0/24" dev "to-$arg" proto kernel scope link src "10.$o.0.1"
      ;;
    noise)
      rm -f "$STATE/workload/noise"
      nft_delete_in "$NFT_LOSS" forward vigil:noise
      ;;
    *) die "unknown fault \"$kind\"; see $LAB_DIR/inject --list" ;;
  esac
}

# Splits FAULT into FAULT_KIND and FAULT_ARG.
parse_fault() {
  FAULT_KIND=${1%%:*}
  FAULT_ARG=""
  [[ $1 == *:* ]] && FAULT_ARG=${1#*:}
  case $FAULT_KIND in
    peering-down | dns-public | dns-deleted | route-wrong | workload-kill | workload-slow | workload-5xx | agent-kill | fw-loss | \
      hub-loss | route-blackhole | hub-unreach | noise)
      [ -n "$FAULT_ARG" ] || die "$FAULT_KIND needs an argument, e.g. $(grep -o "^$FAULT_KIND:[A-Z]*" <<<"$FAULTS_HELP")"
      ;;
    fw-rule-removed | fw-drift | dns-down | snat-wrong) ;;
    *) die "unknown fault \"$1\"; see $LAB_DIR/inject --list" ;;
  esac
}

# Checks one FAULT's argument without changing anything, so a list of
# faults is refused whole before any of it is injected.
need_fault_args() {
  parse_fault "$1"
  local kind=$FAULT_KIND arg=$FAULT_ARG
  case $kind in
    peering-down | route-wrong | workload-kill | workload-slow | workload-5xx | route-blackhole | hub-unreach)
      need_spoke "$arg" ;;
    fw-loss | hub-loss) need_pct "$arg" ;;
    noise) need_pct "$arg" 50 ;;
    dns-public | dns-deleted) need_private_record "$arg" ;;
    agent-kill)
      ns_of "$arg" >/dev/null 2>&1 && [ "$arg" != inet ] || die "\"$arg\" is not an agent's network; use hub or $(spokes_phrase)"
      svc_known "agent-$arg" || die "no Vigil agent runs in $arg: start the lab with $LAB_DIR/up --with-vigil BIN_DIR"
      ;;
    *) [ -z "$arg" ] || die "$kind takes no argument" ;;
  esac
}

# Faults keyed without their percentage, so `restore fw-loss` finds it.
PCT_FAULTS="fw-loss hub-loss noise"
is_pct_fault() { [[ " $PCT_FAULTS " == *" $1 "* ]]; }
# The record of an active fault.
fault_key() {
  case $1 in
    fw-loss | hub-loss | noise) echo "$1" ;;
    *) echo "$1${2:+:$2}" ;;
  esac
}
