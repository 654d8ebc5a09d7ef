#!/usr/bin/env bash
# A UML guest process talks DVK with host processes through host-backend's
# guest ring (ctest label "uml").
#
#   uml_guest_dvk.sh HOST_BACKEND LATENCY_SERVER LATENCY_CLIENT DVKCTL GUEST_DVK
#
# 1. host-backend --guest-ring R; latency_server (host) binds ep 11.
# 2. One guest boot (vdvk-uml --ring R) runs, in order:
#      guest_dvk client  : getdvsinfo, bind 42, NOWAIT receive, 1000 sendrecs
#                          to the host server (payload + m_source checked), unbind
#      guest_dvk keep 43 : exits bound; the driver reports the exit
#      guest_dvk free 43 : ep 43's slot is free again while the guest still runs
#      guest_dvk serve 44: the host's latency_client does 200 sendrecs to it
# 3. After the guest is gone: its endpoints are free on the host (dvkctl), the
#    backend still serves host clients, and a second guest boots on the reset
#    ring.
# 4. A guest killed with SIGKILL in the middle of a receive: the backend frees
#    its endpoint and keeps serving.
# Skips (77) without a kernel whose vdvk driver has VDVK_IOC_CALL.
set -uo pipefail

backend=${1:?usage: see header}
lat_server=${2:?}
lat_client=${3:?}
dvkctl=${4:?}
guest=${5:?}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
launcher=${VDVK_UML_LAUNCHER:-$here/../launcher/vdvk-uml}
kernel=${VDVK_UML_KERNEL:-${XDG_CACHE_HOME:-$HOME/.cache}/vdvk/uml/linux}
if [[ ! -x $kernel ]]; then
	echo "SKIP: no UML kernel at $kernel (run uml-vdvk/kernel/build-kernel.sh or set VDVK_UML_KERNEL)"
	exit 77
fi
if ! grep -aq 'vdvk-call-v1' "$kernel"; then
	echo "SKIP: $kernel has no vdvk driver with VDVK_IOC_CALL (rebuild with build-kernel.sh)"
	exit 77
fi
export VDVK_UML_KERNEL=$kernel

work=$(mktemp -d "${TMPDIR:-/tmp}/uml_guest_dvk.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
export TMPDIR=$work

fail() {
	echo "FAIL: $*"
	echo "--- backend log:"; tail -30 "$work/backend.log"
	exit 1
}

ring=$work/g1.ring
sock=$work/node5.sock
export VDVK_SOCKET=$sock
# Guest eps 42-45 must be system processes: DVS lets user processes only
# sendrec, and the guest also receives and replies.
echo "dc0_nr_sysprocs = 128" >"$work/backend.conf"
"$backend" --node 5 --socket "$sock" --config "$work/backend.conf" --guest-ring "$ring" --log-level debug >"$work/backend.log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
for _ in $(seq 100); do
	[[ -S $sock && -p $ring.kick && -p $ring.wake && -f $ring ]] && break
	sleep 0.05
done
[[ -f $ring && -p $ring.kick && -p $ring.wake ]] || fail "backend did not create $ring and its FIFOs"
[[ $(stat -c %a "$ring") == 600 ]] || fail "ring mode $(stat -c %a "$ring"), want 600"

"$lat_server" --ep 11 >"$work/server.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do grep -q bound "$work/server.log" && break; sleep 0.05; done
grep -q bound "$work/server.log" || fail "latency_server did not bind: $(cat "$work/server.log")"

# The host client of phase "serve" waits for the guest's ep 44 to be bound.
"$lat_client" --server-ep 44 --ep 41 --loops 200 --wait-ms 60000 >"$work/client.log" 2>&1 &
client_pid=$!
pids+=("$client_pid")

out=$("$launcher" --timeout 120 --ring "$ring" -- /bin/sh -c \
	"$guest client 5 11 1000 && $guest keep 43 && $guest free 43 && $guest serve 44 200" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest exited $rc"
grep -q '1000 sendrecs ok' <<<"$out" || fail "no sendrec summary from the guest"
grep -q 'slot 43 free' <<<"$out" || fail "ep 43 not freed after its guest process exited"
wait "$client_pid"
crc=$?
cat "$work/client.log"
[[ $crc == 0 ]] || fail "host latency_client against the guest server exited $crc"
echo "ok: guest->host 1000 sendrecs, guest process exit frees its slot, host->guest 200 sendrecs"

# The guest is gone: nothing of it remains bound, the backend serves on.
for ep in 42 43 44; do
	line=$("$dvkctl" proc 0 $ep) || fail "dvkctl proc 0 $ep failed: $line"
	grep -q 'SLOT_FREE' <<<"$line" || fail "ep $ep still bound after the guest ended: $line"
done
kill -0 "$backend_pid" 2>/dev/null || fail "backend died"
grep -q "guest (host pid [0-9]*) died" "$work/backend.log" || fail "backend did not notice the guest's death"
echo "ok: endpoints 42-44 free on the host after the guest ended"

# A second guest on the same (reset) ring.
out=$("$launcher" --timeout 120 --ring "$ring" -- "$guest" client 5 11 100 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "second guest exited $rc"
echo "ok: a second guest works on the reset ring"

# SIGKILL of the whole guest while its process blocks in receive.
umid=guestdvk-$$
"$launcher" --timeout 120 --umid "$umid" --ring "$ring" -- "$guest" serve 45 1000000 >"$work/g3.log" 2>&1 &
g3=$!
pids+=("$g3")
bound=0
for _ in $(seq 200); do
	if "$dvkctl" proc 0 45 2>/dev/null | grep -vq SLOT_FREE; then bound=1; break; fi
	sleep 0.05
done
((bound)) || fail "guest never bound ep 45: $(cat "$work/g3.log")"
kpids=$(pgrep -f -- "umid=$umid " || true)
[[ -n $kpids ]] || fail "cannot find the guest's processes"
kill -KILL $kpids
wait "$g3" 2>/dev/null
freed=0
for _ in $(seq 100); do
	if "$dvkctl" proc 0 45 | grep -q SLOT_FREE; then freed=1; break; fi
	sleep 0.05
done
((freed)) || fail "ep 45 still bound after SIGKILL of its guest: $("$dvkctl" proc 0 45)"
"$lat_client" --server-ep 11 --ep 46 --loops 100 >"$work/client2.log" 2>&1 ||
	fail "host client after the guest kill: $(cat "$work/client2.log")"
echo "ok: SIGKILLed guest's endpoint freed, backend keeps serving"
