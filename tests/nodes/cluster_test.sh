#!/bin/bash
# cluster_test.sh SCENARIO HOST_BACKEND NODE_PEER [M3FTPD M3FTP]
#
# Three real host-backends (nodes 0, 1, 2) linked by Cap'n Proto over TCP,
# each in its own network namespace joined by veth pairs to a bridge in a
# fourth "hub" namespace (all created and removed here). Where namespaces
# cannot be created, the nodes share loopback with distinct ports and the
# test says so. Clients are node_peer processes on libdvk; $VDVK_SOCKET
# selects their node (a unix socket works across network namespaces).
#
# Scenarios: sendrec notify token kill_rejoin stall withdraw garbage vcopy vcopy_kill
# vcopy_stall dcview resolve m3ftp (+ latency, by hand)
# Exit 0 when every check passed; the failing check is printed otherwise.
set -u
scenario=$1
backend=$2
peer=$3

HB_MS=100      # short heartbeats keep the test fast; the defaults are 500/2000
DEAD_MS=600
TOKEN=cluster-secret
tag=$$
dir=$(mktemp -d /tmp/vdvk-nodes-XXXXXX) || exit 2
declare -a bpid addr ns
pids=()
use_ns=0

log() { echo "cluster_test[$scenario]: $*"; }
fail() {
	log "FAIL: $*"
	for f in "$dir"/*.log; do echo "---- $f"; tail -n "${VDVK_TEST_LOG_LINES:-30}" "$f"; done
	exit 1
}

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${bpid[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ $use_ns = 1 ]; then
		for i in 0 1 2; do ip netns del "vdvk${tag}n$i" 2>/dev/null; done
		ip netns del "vdvk${tag}hub" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

setup_net() {
	local hub="vdvk${tag}hub"
	# VDVK_TEST_LOOPBACK=1 forces the fallback (to test it where netns works).
	if [ -z "${VDVK_TEST_LOOPBACK:-}" ] && ip netns add "$hub" 2>/dev/null &&
		ip -n "$hub" link add br0 type bridge 2>/dev/null &&
		ip -n "$hub" link set br0 up; then
		use_ns=1
		for i in 0 1 2; do
			ns[$i]="vdvk${tag}n$i"
			ip netns add "${ns[$i]}" || fail "netns add"
			ip link add "v$i" netns "$hub" type veth peer name eth0 netns "${ns[$i]}" || fail "veth"
			ip -n "$hub" link set "v$i" master br0 up || fail "bridge port"
			ip -n "${ns[$i]}" addr add "10.77.0.$((i + 1))/24" dev eth0 || fail "addr"
			ip -n "${ns[$i]}" link set eth0 up || fail "eth0 up"
			ip -n "${ns[$i]}" link set lo up || fail "lo up"
			addr[$i]="10.77.0.$((i + 1)):7000"
		done
		log "network namespaces with veth pairs and a bridge (10.77.0.1-3)"
	else
		ip netns del "$hub" 2>/dev/null
		log "no network namespaces (cannot create them${VDVK_TEST_LOOPBACK:+, or VDVK_TEST_LOOPBACK set}): falling back to loopback"
		local base=$((20000 + (tag % 2000) * 3))
		for i in 0 1 2; do addr[$i]="127.0.0.1:$((base + i))"; done
	fi
}

# start_backend I [extra flags...]
start_backend() {
	local i=$1
	shift
	local sock="$dir/n$i.sock"
	local cmd=("$backend" --node "$i" --socket "$sock" --listen "${addr[$i]}" --token "$TOKEN"
		--heartbeat-ms $HB_MS --dead-ms $DEAD_MS --poll-us 20 ${VDVK_TEST_BACKEND_ARGS:-})
	for j in 0 1 2; do [ "$j" != "$i" ] && cmd+=(--peer "$j=${addr[$j]}"); done
	cmd+=("$@")
	# A restarted node appends to its log and finds its old socket file:
	# wait for one more "ready" line than before.
	local before
	before=$(grep -c "ready on" "$dir/b$i.log" 2>/dev/null)
	if [ $use_ns = 1 ]; then
		ip netns exec "${ns[$i]}" "${cmd[@]}" >>"$dir/b$i.log" 2>&1 &
	else
		"${cmd[@]}" >>"$dir/b$i.log" 2>&1 &
	fi
	bpid[$i]=$!
	local n
	for _ in $(seq 500); do
		# The log may not exist yet in the first iterations.
		n=$(grep -c "ready on" "$dir/b$i.log" 2>/dev/null)
		[ "${n:-0}" -gt "${before:-0}" ] && return 0
		kill -0 "${bpid[$i]}" 2>/dev/null || fail "backend $i exited at start"
		sleep 0.01
	done
	fail "backend $i did not start"
}

# wait_log FILE PATTERN SECONDS
wait_log() {
	for _ in $(seq $(($3 * 100))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}

others() { local s=""; for j in 0 1 2; do [ "$j" != "$1" ] && s="$s${s:+,}$j"; done; echo "$s"; }

# peer_bg NAME NODE ARGS... : a node_peer in the background, output in NAME.log
peer_bg() {
	local name=$1 node=$2
	shift 2
	VDVK_SOCKET="$dir/n$node.sock" "$peer" "$@" --nodes "$(others "$node")" >"$dir/$name.log" 2>&1 &
	pids+=($!)
	eval "${name}_pid=$!"
}
# peer_fg NODE ARGS... : runs a node_peer, prints its stdout, returns its status
peer_fg() {
	local node=$1
	shift
	VDVK_SOCKET="$dir/n$node.sock" timeout 60 "$peer" "$@" --nodes "$(others "$node")"
}

setup_net
start_backend 0
start_backend 1
start_backend 2
for i in 0 1 2; do
	for j in 0 1 2; do
		[ "$i" = "$j" ] && continue
		wait_log "$dir/b$i.log" "link to node $j .* is up" 10 || fail "link $i -> $j never came up"
	done
done

case $scenario in
sendrec)
	peer_bg srv1 1 server --ep 10 --count 0
	peer_bg srv2 2 server --ep 11 --count 0
	wait_log "$dir/srv1.log" ready 5 && wait_log "$dir/srv2.log" ready 5 || fail "servers not ready"
	# Two clients on two nodes hit node 1's server at once, a third goes 1 -> 2.
	peer_bg c0 0 client --ep 100 --server 10 --node 1 --count 10000
	peer_bg c2 2 client --ep 101 --server 10 --node 1 --count 2000
	out=$(peer_fg 1 client --ep 102 --server 11 --node 2 --count 2000) || fail "1 -> 2: $out"
	log "node 1 -> node 2: $out"
	wait "$c0_pid" || fail "0 -> 1: $(cat "$dir/c0.log")"
	wait "$c2_pid" || fail "2 -> 1: $(cat "$dir/c2.log")"
	log "node 0 -> node 1 (concurrent): $(cat "$dir/c0.log")"
	log "node 2 -> node 1 (concurrent): $(cat "$dir/c2.log")"
	;;
latency)
	# Not a ctest: one client alone, for the cross-node round trip figure.
	peer_bg srv1 1 server --ep 10 --count 0
	wait_log "$dir/srv1.log" ready 5 || fail "server not ready"
	for run in 1 2 3; do
		out=$(peer_fg 0 client --ep $((100 + run)) --server 10 --node 1 --count 10000) || fail "$out"
		log "run $run: node 0 -> node 1 sendrec: $out"
	done
	;;
notify)
	peer_bg rcv 2 notify-recv --ep 12 --from 5
	wait_log "$dir/rcv.log" ready 5 || fail "receiver not ready"
	out=$(peer_fg 0 notify-send --ep 5 --dst 12 --node 2) || fail "notify-send: $out"
	wait "$rcv_pid" || fail "notify-recv: $(cat "$dir/rcv.log")"
	grep -q "ok notify from 5" "$dir/rcv.log" || fail "no notification: $(cat "$dir/rcv.log")"
	log "notify 0 -> 2: $(tail -n1 "$dir/rcv.log")"
	;;
token)
	# Node 2 comes back with the wrong token: nodes 0 and 1 refuse it, once
	# per reason in the log, and node 0 has no link to it.
	kill -9 "${bpid[2]}"
	wait "${bpid[2]}" 2>/dev/null
	wait_log "$dir/b0.log" "link to node 2 .* lost" 5 || fail "node 0 did not notice node 2 leaving"
	start_backend 2 --token wrong-token
	wait_log "$dir/b0.log" "refused link from .*: wrong cluster token" 10 ||
		fail "node 0 logged no refusal"
	wait_log "$dir/b2.log" "cannot link to node 0 at .*hello refused" 10 ||
		fail "node 2 logged no refusal"
	sleep 2.5 # several retries (backoff 100 ms .. 2 s)
	n=$(grep -c "refused link from .*wrong cluster token" "$dir/b0.log")
	[ "$n" = 1 ] || fail "node 0 logged the refusal $n times"
	out=$(peer_fg 0 client --ep 100 --server 11 --node 2 --count 1 --rmt-tries 1)
	[ "$out" = "error -307 rmtbind" ] || fail "rmtbind to the refused node: $out"
	log "refused: $(grep -m1 'refused link' "$dir/b0.log" | sed 's/^.*\] //')"
	kill -0 "${bpid[0]}" && kill -0 "${bpid[1]}" && kill -0 "${bpid[2]}" || fail "a backend died"
	;;
kill_rejoin | stall)
	peer_bg idle1 1 idle --ep 10
	wait_log "$dir/idle1.log" ready 5 || fail "idle server not ready"
	peer_bg hold 0 client --ep 100 --server 10 --node 1 --count 1
	sleep 0.5 # the sendrec is now queued on node 1
	kill -0 "$hold_pid" 2>/dev/null || fail "client did not block: $(cat "$dir/hold.log")"
	t0=$(date +%s%N)
	if [ "$scenario" = kill_rejoin ]; then
		kill -9 "${bpid[1]}"
	else
		kill -STOP "${bpid[1]}" # alive but silent: only heartbeats notice
	fi
	wait "$hold_pid"
	ms=$((($(date +%s%N) - t0) / 1000000))
	grep -q "^error -64 " "$dir/hold.log" || fail "blocked client got: $(cat "$dir/hold.log")"
	[ $ms -le $((DEAD_MS + 900)) ] || fail "client failed only after $ms ms"
	log "client blocked on node 1 got EDVSNOTCONN after $ms ms (dead-peer timeout $DEAD_MS ms)"
	# The rest of the cluster keeps working.
	peer_bg srv2 2 server --ep 11 --count 0
	wait_log "$dir/srv2.log" ready 5 || fail "server on node 2 not ready"
	out=$(peer_fg 0 client --ep 101 --server 11 --node 2 --count 500) || fail "0 -> 2 meanwhile: $out"
	log "node 0 -> node 2 meanwhile: $out"
	if [ "$scenario" = kill_rejoin ]; then
		kill -9 "$idle1_pid"
		start_backend 1
	else
		kill -CONT "${bpid[1]}"
		# Node 0 dropped its link, so the sendrec whose client got EDVSNOTCONN
		# must have been withdrawn on node 1, not left for the server.
		wait_log "$dir/b1.log" "link to node 0 .* lost" 5 || true
		sleep 0.3
		kill -USR1 "$idle1_pid"
		wait "$idle1_pid"
		grep -q "^received -61$" "$dir/idle1.log" || fail "stale request delivered after the link drop: $(cat "$dir/idle1.log")"
		log "idle server on node 1 after the stall: $(tail -n1 "$dir/idle1.log") (nothing delivered)"
	fi
	wait_log "$dir/b0.log" "node 1 is up" 1 || true
	peer_bg srv1 1 server --ep 10 --count 0
	wait_log "$dir/srv1.log" ready 5 || fail "server on node 1 not ready after rejoin"
	out=$(peer_fg 0 client --ep 102 --server 10 --node 1 --count 1000) || fail "0 -> 1 after rejoin: $out"
	log "node 0 -> node 1 after rejoin: $out"
	out=$(peer_fg 2 client --ep 103 --server 10 --node 1 --count 200) || fail "2 -> 1 after rejoin: $out"
	;;
vcopy)
	# 1 MiB vcopies across nodes, both directions, contents checked on both
	# sides (node_peer vclient/vserver), from two nodes to two servers.
	peer_bg vs1 1 vserver --ep 10
	peer_bg vs0 0 vserver --ep 12
	wait_log "$dir/vs1.log" ready 5 && wait_log "$dir/vs0.log" ready 5 || fail "vservers not ready"
	peer_bg vc2 2 vclient --ep 21 --server 12 --node 0 --count 8
	out=$(peer_fg 0 vclient --ep 20 --server 10 --node 1 --count 8) || fail "0 <-> 1: $out $(cat "$dir/vs1.log")"
	log "node 0 <-> node 1, 8 x 1 MiB each way: $out"
	wait "$vc2_pid" || fail "2 <-> 0: $(cat "$dir/vc2.log") $(cat "$dir/vs0.log")"
	log "node 2 <-> node 0, 8 x 1 MiB each way: $(cat "$dir/vc2.log")"
	wait "$vs1_pid" || fail "vserver 1: $(cat "$dir/vs1.log")"
	# Sizes around the inline limit (one 256 KiB chunk): copies into the
	# callee's party up to it carry their bytes in the call, one more byte
	# goes back to the callee's reads.
	# A log per size: a "ready" left in the last one would not mean this one is.
	for bytes in 4096 262144 262145; do
		peer_bg "vs$bytes" 1 vserver --ep 13 --bytes "$bytes"
		wait_log "$dir/vs$bytes.log" ready 5 || fail "vserver ($bytes bytes) not ready"
		out=$(peer_fg 0 vclient --ep 22 --server 13 --node 1 --count 20 --bytes "$bytes") ||
			fail "0 <-> 1, $bytes bytes: $out $(cat "$dir/vs$bytes.log")"
		pid_var="vs${bytes}_pid"
		wait "${!pid_var}" || fail "vserver ($bytes bytes): $(cat "$dir/vs$bytes.log")"
		log "node 0 <-> node 1, 20 x $bytes bytes each way: $out"
	done
	;;
vcopy_kill | vcopy_stall)
	# A node dies (or stalls) while vcopies to it run: the client gets a DVK
	# error within the dead-peer timeout, and later copies elsewhere work.
	peer_bg vs1 1 vserver --ep 10
	wait_log "$dir/vs1.log" ready 5 || fail "vserver not ready"
	peer_bg vc 0 vclient --ep 20 --server 10 --node 1 --count 1000000
	sleep 1
	kill -0 "$vc_pid" 2>/dev/null || fail "client ended early: $(cat "$dir/vc.log")"
	t0=$(date +%s%N)
	if [ "$scenario" = vcopy_kill ]; then kill -9 "${bpid[1]}"; else kill -STOP "${bpid[1]}"; fi
	wait "$vc_pid"
	ms=$((($(date +%s%N) - t0) / 1000000))
	grep -q "^error -" "$dir/vc.log" || fail "client got: $(cat "$dir/vc.log")"
	[ $ms -le $((DEAD_MS + 900)) ] || fail "client failed only after $ms ms"
	log "vcopy client got '$(cat "$dir/vc.log")' $ms ms after node 1 went away (dead-peer timeout $DEAD_MS ms)"
	peer_bg vs2 2 vserver --ep 11
	wait_log "$dir/vs2.log" ready 5 || fail "vserver on node 2 not ready"
	out=$(peer_fg 0 vclient --ep 21 --server 11 --node 2 --count 2) || fail "0 <-> 2 afterwards: $out"
	log "node 0 <-> node 2 afterwards: $out"
	;;
m3ftp)
	# m3ftpd on node 0, m3ftp on node 1 (no rmtbind): get and put of a
	# VDVK_M3FTP_MB (default 256) MiB file, checksums compared by m3ftp and cmp.
	ftpd=$4
	ftp=$5
	mb=${VDVK_M3FTP_MB:-256}
	mkdir -p "$dir/root" "$dir/local" || fail "mkdir"
	head -c "${mb}M" /dev/urandom >"$dir/root/big" || fail "test file"
	VDVK_SOCKET="$dir/n0.sock" "$ftpd" --root "$dir/root" --ep 12 >"$dir/ftpd.log" 2>&1 &
	pids+=($!)
	out=$(peer_fg 0 setup --ep 0) || fail "setup node 0: $out"
	# No rmtbind on node 1: m3ftp (unchanged) finds m3ftpd on node 0 through
	# the backends' automatic resolution.
	out=$(peer_fg 1 setup --ep 0) || fail "setup node 1: $out"
	t0=$(date +%s%N)
	VDVK_SOCKET="$dir/n1.sock" timeout 60 "$ftp" --server-ep 12 get big "$dir/local/got" >"$dir/get.log" 2>&1 ||
		fail "m3ftp get: $(cat "$dir/get.log")"
	t1=$(date +%s%N)
	cmp -s "$dir/root/big" "$dir/local/got" || fail "got file differs"
	VDVK_SOCKET="$dir/n1.sock" timeout 60 "$ftp" --server-ep 12 put "$dir/local/got" up >"$dir/put.log" 2>&1 ||
		fail "m3ftp put: $(cat "$dir/put.log")"
	t2=$(date +%s%N)
	cmp -s "$dir/root/big" "$dir/root/up" || fail "put file differs"
	log "get ${mb} MiB node 0 -> node 1: $(((t1 - t0) / 1000000)) ms ($(tail -n1 "$dir/get.log"))"
	log "put ${mb} MiB node 1 -> node 0: $(((t2 - t1) / 1000000)) ms ($(tail -n1 "$dir/put.log"))"
	;;
resolve)
	# No rmtbind anywhere: clients on nodes 1 and 2 find node 0's servers
	# through the backends' automatic resolution (Node.lookup to the DC's
	# other nodes); a server that moves to another node is found again.
	peer_bg srv0 0 server --ep 10 --count 0
	peer_bg vs0 0 vserver --ep 12
	wait_log "$dir/srv0.log" ready 5 && wait_log "$dir/vs0.log" ready 5 || fail "servers not ready"
	out=$(peer_fg 1 client --ep 100 --server 10 --node 0 --count 1000 --rmt-tries 0) || fail "1 -> 0: $out"
	log "node 1 -> node 0 sendrec without rmtbind: $out"
	out=$(peer_fg 2 vclient --ep 21 --server 12 --node 0 --count 4 --rmt-tries 0) || fail "2 <-> 0: $out"
	log "node 2 <-> node 0 vcopy 4 x 1 MiB each way without rmtbind: $out"
	# The server moves to node 2: node 1's automatic slot (-> node 0) is stale,
	# the first sendrec fails there (EDVSDEADSRCDST, retried by the client),
	# the slot is dropped and the next call finds node 2.
	kill -9 "$srv0_pid"
	wait "$srv0_pid" 2>/dev/null
	peer_bg srv2 2 server --ep 10 --count 0
	wait_log "$dir/srv2.log" ready 5 || fail "server on node 2 not ready"
	out=$(peer_fg 1 client --ep 101 --server 10 --node 2 --count 500 --rmt-tries 0) || fail "1 -> 2 after the move: $out"
	log "node 1 -> node 2 after the server moved: $out"
	;;
dcview)
	# DC membership views (Node.dcViews): node 0 adds node 1 to DC 0 while
	# node 1 has not added node 0: both backends say so, once; node 2, not
	# involved, says nothing. Once node 1 adds node 0 both say they agree.
	VDVK_SOCKET="$dir/n0.sock" timeout 20 "$peer" setup --ep 0 --nodes 1 >/dev/null || fail "add_node on node 0"
	wait_log "$dir/b1.log" "DC membership: node 0 lists this node in DC 0" 5 ||
		fail "node 1 did not report the disagreement: $(grep 'DC membership' "$dir/b1.log")"
	wait_log "$dir/b0.log" "DC membership: node 1 does not list this node in DC 0" 5 ||
		fail "node 0 did not report the disagreement: $(grep 'DC membership' "$dir/b0.log")"
	log "node 1: $(grep -o 'DC membership: .*' "$dir/b1.log")"
	VDVK_SOCKET="$dir/n1.sock" timeout 20 "$peer" setup --ep 0 --nodes 0 >/dev/null || fail "add_node on node 1"
	wait_log "$dir/b1.log" "node 0 and this node agree on DC 0 now" 5 || fail "node 1 did not see the agreement"
	wait_log "$dir/b0.log" "node 1 and this node agree on DC 0 now" 5 || fail "node 0 did not see the agreement"
	[ "$(grep -c 'DC membership: node 0 lists' "$dir/b1.log")" = 1 ] || fail "node 1 repeated its warning"
	! grep -q "DC membership" "$dir/b2.log" || fail "node 2 reported: $(grep 'DC membership' "$dir/b2.log")"
	log "node 0: $(grep -o 'DC membership: node 1 and .*' "$dir/b0.log")"
	;;
withdraw)
	# A client killed while its sendrec waits on another node: the request
	# is withdrawn there (the server never receives a message from the dead).
	peer_bg idle1 1 idle --ep 10
	wait_log "$dir/idle1.log" ready 5 || fail "idle server not ready"
	peer_bg hold 0 client --ep 100 --server 10 --node 1 --count 1
	sleep 0.5
	kill -0 "$hold_pid" 2>/dev/null || fail "client did not block: $(cat "$dir/hold.log")"
	kill -9 "$hold_pid"
	sleep 0.3
	kill -USR1 "$idle1_pid"
	wait "$idle1_pid"
	grep -q "^received -61$" "$dir/idle1.log" || fail "dead client's request delivered: $(cat "$dir/idle1.log")"
	log "server after the client's death: $(tail -n1 "$dir/idle1.log") (nothing delivered)"
	;;
garbage)
	host=${addr[1]%:*}
	port=${addr[1]##*:}
	send_garbage() {
		if [ $use_ns = 1 ]; then
			ip netns exec "${ns[0]}" python3 -c "$1" "$host" "$port"
		else
			python3 -c "$1" "$host" "$port"
		fi
	}
	# Random bytes, a huge segment table, a valid-looking frame with a bogus
	# pointer, and a half-sent frame followed by a hangup.
	send_garbage '
import os, socket, struct, sys
h, p = sys.argv[1], int(sys.argv[2])
frames = [os.urandom(4096), struct.pack("<II", 0x7fffffff, 0xffffffff) + os.urandom(64),
          struct.pack("<II", 0, 2) + b"\xff" * 16, struct.pack("<II", 0, 100000) + b"\0" * 8,
          os.urandom(3)]
for f in frames * 5:
    s = socket.create_connection((h, p))
    s.sendall(f)
    s.settimeout(0.2)
    try: s.recv(100)
    except Exception: pass
    s.close()
' || fail "could not send garbage"
	sleep 0.3
	kill -0 "${bpid[1]}" 2>/dev/null || fail "backend 1 died of garbage"
	peer_bg srv1 1 server --ep 10 --count 0
	wait_log "$dir/srv1.log" ready 5 || fail "server on node 1 not ready"
	out=$(peer_fg 0 client --ep 100 --server 10 --node 1 --count 200) || fail "0 -> 1 after garbage: $out"
	log "backend 1 survived garbage; node 0 -> node 1: $out"
	;;
*)
	fail "unknown scenario"
	;;
esac
# A sanitizer build reports in the backends' logs without always exiting.
if grep -l "runtime error\|AddressSanitizer\|LeakSanitizer" "$dir"/b*.log >/dev/null 2>&1; then
	fail "sanitizer report in a backend log: $(grep -h -m3 "runtime error\|Sanitizer" "$dir"/b*.log)"
fi
log PASS
exit 0
