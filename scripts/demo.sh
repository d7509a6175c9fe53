#!/usr/bin/env bash
# demo.sh — sesame in one minute, on a fresh Debian machine, as root.
#
# Builds sesamed and sesame, makes two network namespaces joined by a veth
# pair (198.18.0.0/24, nothing leaves them), protects a TCP port in the server
# namespace with an nftables drop rule, and shows a knock opening it for
# Cmd_Timeout seconds. Everything it creates is removed on exit.
#
#   sudo scripts/demo.sh                     # sesamed + sesame (built from this checkout)
#   sudo DAEMON=knockd scripts/demo.sh       # the same with Debian's knockd + knock
#
# Environment: DAEMON=sesamed|knockd, CLIENT=sesame|knock (default: the
# daemon's partner), CMD_TIMEOUT=seconds (default 5).
set -euo pipefail

DAEMON=${DAEMON:-sesamed}
case $DAEMON in
sesamed) CLIENT=${CLIENT:-sesame} ;;
knockd) CLIENT=${CLIENT:-knock} ;;
*) echo "demo: error: DAEMON must be sesamed or knockd, not \"$DAEMON\"" >&2; exit 2 ;;
esac
CMD_TIMEOUT=${CMD_TIMEOUT:-5}
PORT=2222
SEQ=(7000 8000 9000)
SRV_IP=198.18.0.1
CLI_IP=198.18.0.2
SRV=sesame-demo-$$-srv
CLI=sesame-demo-$$-cli

say() { printf '\n==> %s\n' "$*"; }
die() { echo "demo: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (network namespaces and nftables need it): sudo $0"

# --- tools ---------------------------------------------------------------
need_pkgs=()
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v nft >/dev/null || need_pkgs+=(nftables)
command -v socat >/dev/null || need_pkgs+=(socat)
if [ "$DAEMON" = knockd ] || [ "$CLIENT" = knock ]; then
	command -v knockd >/dev/null || need_pkgs+=(knockd)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
	say "installing ${need_pkgs[*]}"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}"
fi

# --- clean up whatever happens --------------------------------------------
work=$(mktemp -d /tmp/sesame-demo.XXXXXX)
pids=()
cleanup() {
	local rc=$?
	set +e
	for pid in "${pids[@]}"; do
		# Each was started with setsid: its process group is its own, so
		# this ends it and its children (knockd's stop-command forks), and
		# nothing else.
		kill -TERM -- "-$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL -- "-$pid" 2>/dev/null
	done
	ip netns delete "$SRV" 2>/dev/null
	ip netns delete "$CLI" 2>/dev/null
	rm -rf "$work"
	if [ $rc -eq 0 ]; then
		say "cleaned up: namespaces $SRV and $CLI and their veth pair are gone"
	else
		echo "demo: failed (exit $rc); cleaned up" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ---------------------------------------------------------------
bin=$work/bin
mkdir -p "$bin"
if [ "$DAEMON" = sesamed ] || [ "$CLIENT" = sesame ]; then
	command -v go >/dev/null || die "Go is needed to build sesame (https://go.dev/dl/), or run with DAEMON=knockd"
	root=$(cd "$(dirname "$0")/.." && pwd)
	say "building sesamed and sesame"
	(cd "$root" && go build -o "$bin/" ./cmd/sesamed ./cmd/sesame)
fi
path_of() { # the program to run: ours if we built it, else the system's
	if [ -x "$bin/$1" ]; then echo "$bin/$1"; else command -v "$1" || die "$1 not found"; fi
}
daemon=$(path_of "$DAEMON")
client=$(path_of "$CLIENT")

# --- the network -----------------------------------------------------------
say "creating namespaces $SRV ($SRV_IP) and $CLI ($CLI_IP), joined by a veth pair"
ip netns add "$SRV"
ip netns add "$CLI"
# Both ends are created inside the namespaces: nothing appears on this host,
# and no route leads out of them.
ip link add veth-srv netns "$SRV" type veth peer name veth-cli netns "$CLI"
ip -n "$SRV" link set lo up
ip -n "$CLI" link set lo up
ip -n "$SRV" addr add "$SRV_IP/24" dev veth-srv
ip -n "$CLI" addr add "$CLI_IP/24" dev veth-cli
ip -n "$SRV" link set veth-srv up
ip -n "$CLI" link set veth-cli up

say "protecting TCP port $PORT in $SRV: a listener behind an nftables drop rule"
ip netns exec "$SRV" nft -f - <<EOF
table inet demo {
	set allow4 { type ipv4_addr; }
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		tcp dport $PORT ip saddr @allow4 accept
		tcp dport $PORT drop
	}
}
EOF
ip netns exec "$SRV" nft list table inet demo | sed 's/^/    /'
setsid ip netns exec "$SRV" socat TCP-LISTEN:$PORT,reuseaddr,fork \
	SYSTEM:'echo "hello from the protected port"' </dev/null >"$work/socat.log" 2>&1 &
pids+=($!)

conf=$work/knockd.conf
cat >"$conf" <<EOF
[options]
	Interface = veth-srv

[opendoor]
	Sequence      = $(IFS=,; echo "${SEQ[*]}")
	Seq_Timeout   = 5
	TCPFlags      = syn
	Start_Command = nft add element inet demo allow4 { %IP% }
	Cmd_Timeout   = $CMD_TIMEOUT
	Stop_Command  = nft delete element inet demo allow4 { %IP% }
EOF
say "knockd.conf"
sed 's/^/    /' "$conf"

say "starting $DAEMON in $SRV"
log=$work/daemon.log
setsid ip netns exec "$SRV" "$daemon" -c "$conf" -i veth-srv -v </dev/null >"$log" 2>&1 &
pids+=($!)
case $DAEMON in
sesamed) ready='msg=ready' ;;
knockd) ready='listening on' ;;
esac
for _ in $(seq 50); do # up to 10 s
	grep -q "$ready" "$log" && break
	kill -0 "${pids[-1]}" 2>/dev/null || { cat "$log" >&2; die "$DAEMON exited"; }
	sleep 0.2
done
grep -q "$ready" "$log" || { cat "$log" >&2; die "$DAEMON did not get ready in 10 s"; }
echo "    $(grep -m1 "$ready" "$log")"
sleep 0.2

# try_connect WANT: connect from the client, report, and check the outcome.
try_connect() {
	local want=$1 reply
	printf '    connect %s -> %s:%s ... ' "$CLI_IP" "$SRV_IP" "$PORT"
	if reply=$(ip netns exec "$CLI" timeout 3 socat -T1 - "TCP:$SRV_IP:$PORT,connect-timeout=1" </dev/null 2>/dev/null) && [ -n "$reply" ]; then
		echo "connected: \"$reply\""
		[ "$want" = open ] || die "the door should be closed"
	else
		echo "timed out (the drop rule ate the SYN: door closed)"
		[ "$want" = closed ] || die "the door should be open"
	fi
}

say "before knocking, the port is closed"
try_connect closed

say "knocking ${SEQ[*]} with $CLIENT -v"
ip netns exec "$CLI" "$client" -v "$SRV_IP" "${SEQ[@]}" | sed 's/^/    /'

say "after the knock, the port is open for $CLI_IP"
opened=
for _ in $(seq 20); do # up to 2 s for the start command to run
	if grep -q "OPEN SESAME" "$log" && ip netns exec "$SRV" nft list set inet demo allow4 | grep -q "$CLI_IP"; then
		opened=1
		break
	fi
	sleep 0.1
done
[ -n "$opened" ] || { cat "$log" >&2; die "$DAEMON did not open the door"; }
try_connect open

say "waiting Cmd_Timeout ($CMD_TIMEOUT s) for $DAEMON to close it again"
sleep $((CMD_TIMEOUT + 1))
try_connect closed

say "$DAEMON's log"
sed -e '/^$/d' -e 's/^/    /' "$log"
