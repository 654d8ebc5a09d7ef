#!/usr/bin/env bash
# A UML guest attached to node 1 talks DVK with host processes on node 0
# (issue 5, item 3; ctest label "uml").
#
#   uml_node_test.sh HOST_BACKEND NODE_PEER LATENCY_SERVER LATENCY_CLIENT DVKCTL
#                    GUEST_DVK GUEST_REMOTE VCOPY_PEER M3FTPD M3FTP_GUEST
#
# Two host-backends linked by Cap'n Proto (--listen/--peer), each in its own
# network namespace joined by a veth pair (made and removed here; loopback
# with two ports when namespaces cannot be made, and the test says so).
# Node 1 also serves a guest ring (--guest-ring); the UML guest itself needs
# no network: its ring is a file. One guest boot runs, in order:
#   guest_dvk client 1 11 1000 : getdvsinfo says node 1; 1,000 sendrecs with
#                                payload and m_source checks to latency_server
#                                on node 0 (rmtbind 11 -> node 0 on node 1)
#   guest_dvk client 1 14 100 46 : the same to a second latency_server on
#                                node 0 that nobody rmtbinds: node 1's backend
#                                resolves its node (Node.lookup)
#   guest_remote notify 43 12  : a notify to node_peer notify-recv on node 0
#   guest_dvk serve 44 200     : latency_client on node 0 does 200 sendrecs to
#                                the guest (rmtbind 44 -> node 1 on node 0)
#   guest_dvk notify-recv 52 5 : node_peer notify-send on node 0 notifies the guest
#   guest_remote vcopy 45 13   : vcopy of 1,000,000 bytes between the guest
#                                and vcopy_peer on node 0: pull, push, and the
#                                host process copying into the guest blocked
#                                in a sendrec (a peer pin on node 1); each
#                                must succeed with the right bytes
#   guest_remote vcopy3 47 15  : a guest process copies between another guest
#                                process (waiting in a sendrec: pinned for the
#                                forward) and a second vcopy_peer on node 0,
#                                both directions
#   guest_remote vcopy 45 18 4099, vcopy3 47 19 4099 : both again with copies
#                                small enough to travel inside the link call
#                                when node 0's party is the destination
#   guest_remote vcopy-intr 50 17 200 : 200 pulls from a third vcopy_peer
#                                under a 300 us SIGALRM: each ends 0 with the
#                                right bytes or EDVSINTR; the next pull works;
#                                no "not completed after cancel" in the guest
# Then, in two more guest boots on the same ring:
#   m3ftp-guest get + put of a 24 MiB file with m3ftpd on node 0 (unchanged
#   proxies programs; no rmtbind: node 0 finds the guest's endpoint itself):
#   both checksums match, sha256 of original, guest copy and put-back agree;
#   a guest killed (SIGKILL, whole UML) in the middle of a 1 GiB get: node 1
#   cleans up, m3ftpd keeps serving, and a new guest's get works; then node
#   0's backend killed in the middle of a guest's get: m3ftp in the guest
#   fails with a DVK error, node 1 keeps serving.
# Skips (77) without a kernel whose vdvk driver has VDVK_IOC_CALL.
set -uo pipefail

backend=${1:?usage: see header}
peer=${2:?}
lat_server=${3:?}
lat_client=${4:?}
dvkctl=${5:?}
guest=${6:?}
gremote=${7:?}
vpeer=${8:?}
ftpd=${9:?}
ftpg=${10:?}

test_name=uml_node_test
# shellcheck source=../../uml-vdvk/tests/guest_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../uml-vdvk/tests/guest_test_lib.sh"

TOKEN=uml-cluster
tag=$$
use_ns=0
declare -a addr ns bpid
ring=$work/g1.ring

# Replaces the library's: backends live in namespaces we must remove.
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if ((use_ns)); then
		for i in 0 1; do ip netns del "vdvk${tag}u$i" 2>/dev/null; done
	fi
	rm -rf "$work"
}
fail() {
	echo "FAIL: $*"
	for f in "$work"/*.log; do echo "---- $f"; tail -n 30 "$f"; done
	exit 1
}

setup_net() {
	if [[ -z ${VDVK_TEST_LOOPBACK:-} ]] && ip netns add "vdvk${tag}u0" 2>/dev/null; then
		use_ns=1
		ns=("vdvk${tag}u0" "vdvk${tag}u1")
		ip netns add "${ns[1]}" || fail "netns add"
		ip link add eth0 netns "${ns[0]}" type veth peer name eth0 netns "${ns[1]}" || fail "veth"
		for i in 0 1; do
			ip -n "${ns[$i]}" addr add "10.78.0.$((i + 1))/24" dev eth0 || fail "addr"
			ip -n "${ns[$i]}" link set eth0 up || fail "eth0 up"
			ip -n "${ns[$i]}" link set lo up || fail "lo up"
			addr[$i]="10.78.0.$((i + 1)):7000"
		done
		echo "network namespaces joined by a veth pair (10.78.0.1-2)"
	else
		echo "no network namespaces (cannot create them${VDVK_TEST_LOOPBACK:+, or VDVK_TEST_LOOPBACK set}): falling back to loopback"
		local base=$((24000 + (tag % 2000) * 2))
		addr=("127.0.0.1:$base" "127.0.0.1:$((base + 1))")
	fi
}

# start_backend I [extra flags...]
start_backend() {
	local i=$1
	shift
	local cmd=("$backend" --node "$i" --socket "$work/n$i.sock" --config "$work/backend.conf"
		--listen "${addr[$i]}" --peer "$((1 - i))=${addr[$((1 - i))]}" --token "$TOKEN"
		--heartbeat-ms 100 --dead-ms 600 "$@")
	if ((use_ns)); then
		ip netns exec "${ns[$i]}" "${cmd[@]}" >"$work/b$i.log" 2>&1 &
	else
		"${cmd[@]}" >"$work/b$i.log" 2>&1 &
	fi
	bpid[$i]=$!
	pids+=("${bpid[$i]}")
	for _ in $(seq 500); do
		grep -q "ready on" "$work/b$i.log" && return 0
		kill -0 "${bpid[$i]}" 2>/dev/null || fail "backend $i exited at start"
		sleep 0.01
	done
	fail "backend $i did not start"
}

# wait_for SECONDS COMMAND... : until COMMAND succeeds
wait_for() {
	local n=$(($1 * 20))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.05; done
	return 1
}
on() { local i=$1; shift; VDVK_SOCKET="$work/n$i.sock" "$@"; }
receiving() { on 1 "$dvkctl" proc 0 "$1" 2>/dev/null | grep -q RECEIVING; }

setup_net
# Guest endpoints must be system processes (they receive and notify).
echo "dc0_nr_sysprocs = 128" >"$work/backend.conf"
start_backend 0
start_backend 1 --guest-ring "$ring"
wait_for 10 grep -q "link to node 1 .* is up" "$work/b0.log" || fail "link 0 -> 1 never came up"
wait_for 10 grep -q "link to node 0 .* is up" "$work/b1.log" || fail "link 1 -> 0 never came up"

# Host processes on node 0, and the DC membership + rmtbinds on both nodes.
on 0 "$peer" setup --ep 0 --nodes 1 >/dev/null || fail "node 0: add node 1"
on 0 "$lat_server" --ep 11 >"$work/server.log" 2>&1 &
pids+=("$!")
on 0 "$lat_server" --ep 14 >"$work/server14.log" 2>&1 &
pids+=("$!")
on 0 "$peer" notify-recv --ep 12 --from 43 --nodes 1 >"$work/nrecv.log" 2>&1 &
nrecv_pid=$!
pids+=("$nrecv_pid")
for ep in 13 15 17 18 19; do
	on 0 "$vpeer" $ep 1048576 >"$work/vpeer$ep.log" 2>&1 &
	eval "vpeer${ep}_pid=$!"
	pids+=($!)
done
wait_for 5 grep -q bound "$work/server.log" || fail "latency_server did not bind"
wait_for 5 grep -q bound "$work/server14.log" || fail "latency_server 14 did not bind"
wait_for 5 grep -q ready "$work/nrecv.log" || fail "notify-recv did not bind"
for ep in 13 15 17 18 19; do
	wait_for 5 grep -q bound "$work/vpeer$ep.log" || fail "vcopy_peer $ep did not bind"
done
for ep in 11 12 13 15 17 18 19; do
	on 1 "$peer" setup --ep 0 --server $ep --node 0 --nodes 0 >/dev/null || fail "node 1: rmtbind $ep"
done
for ep in 44 52; do
	on 0 "$peer" setup --ep 0 --server $ep --node 1 --nodes 1 >/dev/null || fail "node 0: rmtbind $ep"
done

# Node 0's clients of the guest start once the guest waits for them.
(
	wait_for 120 receiving 44 || exit 3
	on 0 "$lat_client" --server-ep 44 --ep 41 --loops 200
) >"$work/lclient.log" 2>&1 &
lclient_pid=$!
pids+=("$lclient_pid")
(
	wait_for 120 receiving 52 || exit 3
	on 0 "$peer" notify-send --ep 5 --dst 52 --node 1 --nodes 1
) >"$work/nsend.log" 2>&1 &
nsend_pid=$!
pids+=("$nsend_pid")

out=$(uml --timeout 180 --ring "$ring" -- /bin/sh -c \
	"$guest client 1 11 1000 && $guest client 1 14 100 46 && $gremote notify 43 12 && $guest serve 44 200 &&
	 $guest notify-recv 52 5 && $gremote vcopy 45 13 && $gremote vcopy3 47 15 &&
	 $gremote vcopy 45 18 4099 && $gremote vcopy3 47 19 4099 && $gremote vcopy-intr 50 17 200;
	 rc=\$?; dmesg | grep -i -E 'oops|bug:|panic|call trace|not completed after cancel'; exit \$rc" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest exited $rc"
! grep -Eqi 'oops|bug:|panic|call trace|not completed after cancel' <<<"$out" || fail "kernel trouble in the guest"

grep -q '1000 sendrecs ok' <<<"$out" || fail "no guest -> node 0 sendrec summary"
echo "ok: guest on node 1 -> latency_server on node 0: $(grep -o '1000 sendrecs ok.*' <<<"$out")"
grep -q '100 sendrecs ok' <<<"$out" || fail "no guest -> node 0 sendrec summary without rmtbind"
echo "ok: ... and to one nobody rmtbinds: $(grep -o '100 sendrecs ok.*' <<<"$out")"

grep -q 'notify 43 -> 12 acknowledged' <<<"$out" || fail "guest notify not acknowledged"
wait "$nrecv_pid" || fail "notify-recv on node 0: $(cat "$work/nrecv.log")"
grep -q 'ok notify from 43' "$work/nrecv.log" || fail "node 0 got no notify from the guest"
echo "ok: guest on node 1 notified a host process on node 0"

wait "$lclient_pid" || fail "latency_client on node 0 -> guest: $(cat "$work/lclient.log")"
grep -q '200 round trips verified' "$work/lclient.log" || fail "latency_client: $(cat "$work/lclient.log")"
echo "ok: latency_client on node 0 -> guest server on node 1: $(grep -o '200 round trips.*' "$work/lclient.log")"

wait "$nsend_pid" || fail "notify-send on node 0: $(cat "$work/nsend.log")"
grep -q 'notify from 5 received' <<<"$out" || fail "guest got no notify from node 0"
echo "ok: host process on node 0 notified the guest on node 1"

# Each kind twice: 1,000,000 bytes (the link's chunked reads and writes),
# then 4099 (a copy into node 0's party carries its bytes in the call).
for kind in pull push host-initiated "third-party push" "third-party pull"; do
	[ "$(grep -c "vcopy $kind -> " <<<"$out")" = 2 ] || fail "not two vcopy $kind results"
	line=$(grep "vcopy $kind -> " <<<"$out" | grep -v -- "-> 0 ") && fail "vcopy $kind failed: $line"
done
[ "$(grep -c 'vcopy checks done, peer still answered' <<<"$out")" = 2 ] || fail "vcopy checks incomplete"
[ "$(grep -c 'third-party vcopy checks done' <<<"$out")" = 2 ] || fail "third-party vcopy checks incomplete"
for p in "$vpeer13_pid" "$vpeer15_pid" "$vpeer18_pid" "$vpeer19_pid"; do
	wait "$p" || fail "a vcopy_peer failed: $(cat "$work"/vpeer*.log)"
done
echo "ok: guest on node 1 <-> host process on node 0 vcopy, 1,000,000 and 4099 bytes each: pull, push,"
echo "    host-initiated into the waiting guest, and third-party both ways (bytes checked on both sides)"
line=$(grep -o 'vcopy-intr 200 pulls: .*' <<<"$out") || fail "no vcopy-intr summary"
wait "$vpeer17_pid" || fail "vcopy_peer 17: $(cat "$work/vpeer17.log")"
echo "ok: $line"

# ---- m3ftp between a guest on node 1 and m3ftpd on node 0 ----
# guests_gone N: node 1 saw the end of N guests (the ring is free again).
guests_gone() { (($(grep -c "guest ring .* died" "$work/b1.log") >= $1)); }
vcopy_bytes() { on "$1" "$dvkctl" status | grep -o 'vcopy_bytes=[0-9]*' | head -1 | cut -d= -f2; }
flowing() { (($(vcopy_bytes 0) - $1 > 8 << 20)); }
wait_for 30 guests_gone 1 || fail "node 1 did not notice the first guest's end"
mkdir -p "$work/root0" && head -c 24M /dev/urandom >"$work/root0/big" || fail "test file"
truncate -s 1G "$work/root0/huge" || fail "sparse file"
on 0 "$ftpd" --root "$work/root0" --ep 16 >"$work/ftpd.log" 2>&1 &
ftpd_pid=$!
pids+=("$ftpd_pid")
wait_for 5 grep -q bound "$work/ftpd.log" || fail "m3ftpd did not bind"
out=$(uml --timeout 180 --mem 160M --ring "$ring" -- /bin/sh -c \
	"$ftpg --server-ep 16 --ep 49 get big \$VDVK_SCRATCH/got && $ftpg --server-ep 16 --ep 49 put \$VDVK_SCRATCH/got back &&
	 sha256sum \$VDVK_SCRATCH/got" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "m3ftp guest exited $rc"
(($(grep -c ' MATCH$' <<<"$out") == 2)) || fail "m3ftp get/put checksums did not both match"
want=$(sha256sum <"$work/root0/big" | cut -d' ' -f1)
grep -q "^$want " <<<"$out" || fail "the guest's copy differs from the original"
[[ $(sha256sum <"$work/root0/back" | cut -d' ' -f1) == "$want" ]] || fail "the put-back file differs"
echo "ok: m3ftp guest on node 1 <-> m3ftpd on node 0, 24 MiB get and put: checksums match, sha256 $want on all three"

# ---- the whole guest SIGKILLed in the middle of a 1 GiB get ----
wait_for 30 guests_gone 2 || fail "node 1 did not notice the m3ftp guest's end"
umid=nodeftp-$$
uml --timeout 120 --umid "$umid" --ring "$ring" -- /bin/sh -c \
	"echo started; exec $ftpg --server-ep 16 --ep 49 get huge /dev/null" >"$work/gkill.log" 2>&1 &
gk=$!
pids+=("$gk")
wait_for 60 grep -q '^started' "$work/gkill.log" || fail "the guest to kill did not start"
# Cut it once bytes flow (node 0's vcopy counter past 8 MiB of this get).
base=$(vcopy_bytes 0)
wait_for 60 flowing "$base" || fail "the 1 GiB get never got going: $(cat "$work/gkill.log")"
grep -q "MATCH\|bytes in" "$work/gkill.log" && fail "the 1 GiB get ended before the kill: $(cat "$work/gkill.log")"
kpids=$(pgrep -f -- "umid=$umid " || true)
[[ -n $kpids ]] || fail "no UML processes for $umid"
cut=$(($(vcopy_bytes 0) - base))
kill -KILL $kpids
wait "$gk" 2>/dev/null
wait_for 30 guests_gone 3 || fail "node 1 did not notice the killed guest"
# m3ftpd sees an error only if it was mid-vcopy or replying (not between two
# requests); either way it must keep serving, and ep 49 must be free again.
kill -0 "$ftpd_pid" 2>/dev/null || fail "m3ftpd died with the guest"
out=$(uml --timeout 120 --mem 96M --ring "$ring" -- /bin/sh -c "$ftpg --server-ep 16 --ep 49 get big \$VDVK_SCRATCH/got" 2>&1) ||
	fail "get after the kill: $out"
grep -q ' MATCH$' <<<"$out" || fail "get after the kill: $out"
seen=$(grep -o 'EDVS[A-Z]*' "$work/ftpd.log" | head -1)
echo "ok: guest SIGKILLed about $cut bytes into a 1 GiB get: m3ftpd ${seen:+got $seen and }keeps serving;"
echo "    a new guest binding the same endpoint gets the file again (MATCH)"

# ---- node 0's backend SIGKILLed in the middle of a guest's 1 GiB get ----
wait_for 30 guests_gone 4 || fail "node 1 did not notice the last m3ftp guest's end"
uml --timeout 120 --ring "$ring" -- /bin/sh -c \
	"$ftpg --server-ep 16 --ep 49 get huge /dev/null; echo exit=\$?" >"$work/gnode.log" 2>&1 &
gn=$!
pids+=("$gn")
base=$(vcopy_bytes 0)
wait_for 60 flowing "$base" || fail "the get before the node kill never got going: $(cat "$work/gnode.log")"
kill -KILL "${bpid[0]}"
t0=$SECONDS
wait "$gn" || fail "the guest exited $? after node 0 died: $(cat "$work/gnode.log")"
grep -q 'exit=1' "$work/gnode.log" || fail "m3ftp in the guest did not fail cleanly: $(cat "$work/gnode.log")"
why=$(grep -o 'EDVS[A-Z]*' "$work/gnode.log" | head -1)
[[ -n $why ]] || fail "no DVK error from m3ftp in the guest: $(cat "$work/gnode.log")"
kill -0 "${bpid[1]}" 2>/dev/null || fail "backend 1 died with node 0"
echo "ok: node 0 killed mid-transfer: the guest's m3ftp on node 1 failed with $why after $((SECONDS - t0)) s, node 1 serves on"
bpid[0]=$$  # gone on purpose; the check below is for node 1 (and this shell)

for i in 0 1; do kill -0 "${bpid[$i]}" 2>/dev/null || fail "backend $i died"; done
! grep -Eq 'Sanitizer|runtime error:' "$work"/b*.log || fail "sanitizer report in a backend log"
echo PASS
