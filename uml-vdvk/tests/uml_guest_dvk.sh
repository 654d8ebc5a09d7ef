#!/usr/bin/env bash
# A UML guest process talks DVK with host processes through host-backend's
# guest ring (ctest label "uml").
#
#   uml_guest_dvk.sh HOST_BACKEND LATENCY_SERVER LATENCY_CLIENT DVKCTL GUEST_DVK
#
# 1. host-backend --guest-ring R --guest-ring R2; latency_server (host) binds ep 11.
# 2. One guest boot (vdvk-uml --ring R) runs, in order:
#      guest_dvk client  : getdvsinfo, bind 42, NOWAIT + 80 ms receive, 10000 sendrecs
#                          to the host server (payload + m_source checked), unbind
#      guest_dvk keep 43 : exits bound; the driver reports the exit
#      guest_dvk free 43 : ep 43's slot is free again while the guest still runs
#      guest_dvk serve 44: the host's latency_client does 200 sendrecs to it
#      guest_dvk signal 47: SIGALRM interrupts a blocking receive (EDVSINTR)
#      guest_dvk hostile : bad pointers/opcodes/lengths, forged identity
#      guest_dvk notify-recv 52 / notify-send 53: a notify between two guest processes
#      guest_dvk fork 54 55: a forked child's exit frees its slot while the
#                          parent still holds the shared fd
#      guest_dvk serve 58, killed with SIGKILL in receive: slot 58 is freed
# 3. After the guest is gone: its endpoints are free on the host (dvkctl), the
#    backend still serves host clients, and a second guest boots on the reset
#    ring.
# 4. A guest killed with SIGKILL in the middle of a receive: the backend frees
#    its endpoint and keeps serving.
# 5. The host corrupts the ring (cq_tail out of range; state DEAD) under a
#    guest blocked in receive: the call fails with EDVSNOTCONN, no oops; after
#    that guest, the ring works again.
# 6. Guest <-> guest: a guest on R serves, a guest on R2 (another CPU) sendrecs.
# 7. The backend stops under a blocked guest call: EDVSNOTCONN, files removed.
# 8. The backend is SIGKILLed under a blocked guest call: the driver sees its
#    wake FIFO lose its writer and ends the call with EDVSNOTCONN at once.
# 9. A guest outlives its backend: SIGKILL, backend started again on the same
#    ring, the guest's device re-attaches and it sendrecs with the new one.
# 10. The backend is killed while it holds a guest's peer pin (the vcopy waits
#    for a stopped second guest): the guest releases the pages (vmstat).
# Skips (77) without a kernel whose vdvk driver has VDVK_IOC_CALL.
set -uo pipefail

backend=${1:?usage: see header}
lat_server=${2:?}
lat_client=${3:?}
dvkctl=${4:?}
guest=${5:?}

test_name=uml_guest_dvk
# shellcheck source=guest_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/guest_test_lib.sh"

ring=$work/g1.ring
ring2=$work/g2.ring
sock=$work/node5.sock
export VDVK_SOCKET=$sock
# Guest eps 42-45 must be system processes: DVS lets user processes only
# sendrec, and the guest also receives and replies.
echo "dc0_nr_sysprocs = 128" >"$work/backend.conf"
"$backend" --node 5 --socket "$sock" --config "$work/backend.conf" --guest-ring "$ring" --guest-ring "$ring2" --log-level debug >"$work/backend.log" 2>&1 &
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

# Waits until the backend has seen the guest on ring $1 die (it then resets
# the ring; a guest booted earlier would find it still claimed).
deaths() { grep -c "guest ring $1 (domain [0-9]*): guest (host pid [0-9]*) died" "$work/backend.log"; }
wait_death() {
	local want=$2
	for _ in $(seq 200); do
		(($(deaths "$1") >= want)) && return 0
		sleep 0.05
	done
	fail "backend did not notice guest death #$want on $1"
}
# Waits until dvkctl's line for ep $1 matches $2.
# The host client of phase "serve" waits for the guest's ep 44 to be bound.
"$lat_client" --server-ep 44 --ep 41 --loops 200 --wait-ms 60000 >"$work/client.log" 2>&1 &
client_pid=$!
pids+=("$client_pid")

out=$(uml --timeout 120 --ring "$ring" -- /bin/sh -c \
	"$guest client 5 11 10000 && $guest keep 43 && $guest free 43 && $guest serve 44 200 &&
	 $guest signal 47 && $guest hostile &&
	 { $guest notify-recv 52 53 & $guest notify-send 53 52 && wait \$!; } &&
	 $guest fork 54 55 &&
	 { $guest serve 58 1000000 & $guest receiving 58 && kill -9 \$! && { wait \$!; sleep 0.5; $guest free 58; }; }" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest exited $rc"
grep -q '10000 sendrecs ok' <<<"$out" || fail "no sendrec summary from the guest"
grep -q 'timed receive -> EDVSTIMEDOUT' <<<"$out" || fail "no timed receive result from the guest"
grep -q 'slot 43 free' <<<"$out" || fail "ep 43 not freed after its guest process exited"
grep -q 'signal -> EDVSINTR' <<<"$out" || fail "no signal result"
grep -q 'hostile ioctls refused' <<<"$out" || fail "no hostile result"
grep -q 'notify from 53 received' <<<"$out" || fail "no notify between guest processes"
grep -q "forked child's exit freed 55" <<<"$out" || fail "no fork result"
grep -q 'slot 58 free' <<<"$out" || fail "ep 58 not freed after SIGKILL of its guest process in receive"
wait "$client_pid"
crc=$?
cat "$work/client.log"
[[ $crc == 0 ]] || fail "host latency_client against the guest server exited $crc"
echo "ok: guest->host 10000 sendrecs (payload checked), timed receive, guest process exit frees its slot, host->guest 200 sendrecs,"
echo "    EDVSINTR on a signal, hostile ioctls refused, notify between guest processes,"
echo "    a forked child's exit frees its slot, so does SIGKILL of a process blocked in receive"

# The guest is gone: nothing of it remains bound, the backend serves on.
wait_death "$ring" 1
for ep in 42 43 44 47 48 52 53 54 55 58; do
	line=$("$dvkctl" proc 0 $ep) || fail "dvkctl proc 0 $ep failed: $line"
	grep -q 'SLOT_FREE' <<<"$line" || fail "ep $ep still bound after the guest ended: $line"
done
kill -0 "$backend_pid" 2>/dev/null || fail "backend died"
echo "ok: endpoints 42-44, 47, 48, 52-55, 58 free on the host after the guest ended"

# A second guest on the same (reset) ring.
out=$(uml --timeout 120 --ring "$ring" -- "$guest" client 5 11 100 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "second guest exited $rc"
echo "ok: a second guest works on the reset ring"
wait_death "$ring" 2

# Eight guest processes at once: calls in flight together share the ring's
# buffers and completions (the driver matches them by tag).
out=$(uml --timeout 120 --ring "$ring" -- /bin/bash -c \
	"pids=; for ep in 60 61 62 63 64 65 66 67; do $guest client 5 11 300 \$ep & pids=\"\$pids \$!\"; done
	 rc=0; for p in \$pids; do wait \$p || rc=1; done; exit \$rc" 2>&1)
rc=$?
[[ $rc == 0 ]] || fail "concurrent guest clients: status $rc: $out"
n=$(grep -c '300 sendrecs ok' <<<"$out")
[[ $n == 8 ]] || fail "only $n of 8 concurrent guest clients finished: $out"
echo "ok: 8 concurrent guest processes x 300 sendrecs"
wait_death "$ring" 3

# SIGKILL of the whole guest while its process blocks in receive.
umid=guestdvk-$$
uml --timeout 120 --umid "$umid" --ring "$ring" -- "$guest" serve 45 1000000 >"$work/g3.log" 2>&1 &
g3=$!
pids+=("$g3")
wait_ep 45 RECEIVING
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
wait_death "$ring" 4

# Corrupt the ring under a guest blocked in receive.
uml --timeout 120 --ring "$ring" -- /bin/sh -c \
	"$guest broken 49; rc=\$?; dmesg | grep -i -E 'vdvk|oops|bug:|panic|call trace'; exit \$rc" >"$work/g4.log" 2>&1 &
g4=$!
pids+=("$g4")
wait_ep 49 RECEIVING
# cq_tail (offset 320) far beyond anything the backend produced, then a doorbell.
printf '\x00\x00\x00\x40' | dd of="$ring" bs=1 seek=320 conv=notrunc status=none
printf 'x' >"$ring.wake"
wait "$g4"
rc=$?
cat "$work/g4.log"
[[ $rc == 0 ]] || fail "guest on the corrupted ring exited $rc"
grep -q 'corrupted ring -> EDVSNOTCONN' "$work/g4.log" || fail "no EDVSNOTCONN on the corrupted ring"
! grep -Eqi 'oops|bug:|panic|call trace' "$work/g4.log" || fail "kernel trouble on the corrupted ring"
grep -q 'ring unusable (cq_tail out of range)' "$work/g4.log" || fail "driver did not log the corruption"
wait_death "$ring" 5
wait_ep 49 SLOT_FREE

# The same with the ring marked DEAD (what the backend does to a guest that
# breaks the protocol).
uml --timeout 120 --ring "$ring" -- "$guest" broken 56 >"$work/g6.log" 2>&1 &
g6=$!
pids+=("$g6")
wait_ep 56 RECEIVING
printf '\x01\x00\x00\x00' | dd of="$ring" bs=1 seek=512 conv=notrunc status=none
printf 'x' >"$ring.wake"
wait "$g6" || fail "guest on the DEAD ring exited $?: $(cat "$work/g6.log")"
grep -q 'corrupted ring -> EDVSNOTCONN' "$work/g6.log" || fail "no EDVSNOTCONN on the DEAD ring"
wait_death "$ring" 6
wait_ep 56 SLOT_FREE
out=$(uml --timeout 120 --ring "$ring" -- "$guest" client 5 11 50 2>&1) ||
	fail "guest after the corruption: $out"
echo "ok: corrupted ring -> EDVSNOTCONN without an oops; the reset ring works again"

# Guest <-> guest through two rings, the guests on different CPUs if we can.
cpu2=()
(($(nproc) > 1)) && cpu2=(--cpu 1)
uml --timeout 120 --ring "$ring" -- "$guest" serve 50 300 >"$work/g5.log" 2>&1 &
g5=$!
pids+=("$g5")
wait_ep 50 RECEIVING
out=$(uml --timeout 120 "${cpu2[@]}" --ring "$ring2" -- "$guest" client 5 50 300 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest client on $ring2 exited $rc"
wait "$g5" || fail "guest server on $ring exited $?: $(cat "$work/g5.log")"
echo "ok: guest<->guest 300 sendrecs over two rings"

# The backend stops while a guest call blocks: DEAD -> EDVSNOTCONN and the
# guest carries on (it sends nothing once it sees DEAD; a kick racing the stop
# gets EPIPE, UML keeps SIGPIPE blocked); the backend removes its files.
uml --timeout 120 --ring "$ring" -- "$guest" broken 57 >"$work/g7.log" 2>&1 &
g7=$!
pids+=("$g7")
wait_ep 57 RECEIVING
kill -TERM "$backend_pid"
wait "$backend_pid"
brc=$?
[[ $brc == 0 ]] || fail "backend exited $brc on SIGTERM"
wait "$g7" || fail "guest exited $? after the backend stopped: $(cat "$work/g7.log")"
grep -q 'corrupted ring -> EDVSNOTCONN' "$work/g7.log" || fail "no EDVSNOTCONN after the backend stopped"
for f in "$ring" "$ring.kick" "$ring.wake" "$ring2" "$ring2.kick" "$ring2.wake"; do
	[[ ! -e $f ]] || fail "$f left behind by the backend"
done
echo "ok: backend stop -> EDVSNOTCONN in the guest, ring files removed"

# The backend is SIGKILLed while a guest call blocks: nothing marks the ring
# DEAD, but the wake FIFO loses its writer; the driver ends the call with
# EDVSNOTCONN at once (before: the call waited forever).
"$backend" --node 5 --socket "$sock" --config "$work/backend.conf" --guest-ring "$ring" >>"$work/backend.log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
for _ in $(seq 100); do [[ -S $sock && -p $ring.wake ]] && break; sleep 0.05; done
uml --timeout 120 --ring "$ring" -- /bin/sh -c "$guest broken 57; rc=\$?; dmesg | grep vdvk; exit \$rc" >"$work/g8.log" 2>&1 &
g8=$!
pids+=("$g8")
wait_ep 57 RECEIVING
kill -KILL "$backend_pid"
killed_at=$(date +%s%N)
wait "$g8" || fail "guest exited $? after the backend was killed: $(cat "$work/g8.log")"
waited_ms=$((($(date +%s%N) - killed_at) / 1000000))
grep -q 'corrupted ring -> EDVSNOTCONN' "$work/g8.log" || fail "no EDVSNOTCONN after the backend was killed"
grep -q 'backend gone' "$work/g8.log" || fail "the guest kernel did not say the backend is gone"
((waited_ms < 10000)) || fail "the guest took ${waited_ms} ms to give up"
echo "ok: backend SIGKILLed -> EDVSNOTCONN in the guest ${waited_ms} ms later (incl. guest shutdown)"

# One guest outlives its backend: killed under its receive, the backend is
# started again on the same ring; the guest's device re-attaches on its next
# call and the guest does 100 sendrecs with a host server of the new backend.
start_node5() {
	"$backend" --node 5 --socket "$sock" --config "$work/backend.conf" --guest-ring "$ring" >>"$work/backend.log" 2>&1 &
	backend_pid=$!
	pids+=("$backend_pid")
	for _ in $(seq 100); do [[ -S $sock && -p $ring.wake ]] && break; sleep 0.05; done
}
start_node5
uml --timeout 120 --ring "$ring" -- /bin/sh -c "$guest reattach 57 5 11; rc=\$?; dmesg | grep vdvk; exit \$rc" >"$work/g9.log" 2>&1 &
g9=$!
pids+=("$g9")
wait_ep 57 RECEIVING
kill -KILL "$backend_pid"
wait "$backend_pid" 2>/dev/null
rm -f "$sock"
sleep 1
start_node5
"$lat_server" --ep 11 >"$work/server2.log" 2>&1 &
pids+=($!)
wait "$g9" || fail "guest exited $? across the backend restart: $(cat "$work/g9.log")"
cat "$work/g9.log"
grep -q 're-attached to ring' "$work/g9.log" || fail "the guest kernel did not say it re-attached"
grep -q '100 sendrecs ok' "$work/g9.log" || fail "no sendrecs after the re-attach"
grep -q "g1.ring (domain 1): guest memory mapped" <(tail -20 "$work/backend.log") ||
	fail "the new backend did not get the re-attached guest's memory"
echo "ok: backend killed and started again -> the same guest re-attaches and sendrecs"

# Pins released when the backend dies: a process of guest 1 vcopies 1 MiB from
# its child (waiting in receive) to a process of guest 2, which is stopped, so
# the backend holds guest 1's pin of the child's pages while it waits for
# guest 2's. The backend is killed: no UNPIN will come, and guest 1 must give
# the pages back itself (its /proc/vmstat pin counters balance).
kill -KILL "$backend_pid" 2>/dev/null
wait "$backend_pid" 2>/dev/null
rm -f "$sock"
"$backend" --node 5 --socket "$sock" --config "$work/backend.conf" --guest-ring "$ring" \
	--guest-ring "$ring2" --pin-timeout-ms 60000 >>"$work/backend.log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
for _ in $(seq 100); do [[ -S $sock && -p $ring2.wake ]] && break; sleep 0.05; done
uml --timeout 120 "${cpu2[@]}" --ring "$ring2" -- "$guest" party 63 >"$work/g10b.log" 2>&1 &
pids+=($!)
wait_ep 63 RECEIVING
uml2=$(grep -o 'g2.ring (domain 2): guest is host pid [0-9]*' "$work/backend.log" | tail -1 | grep -o '[0-9]*$')
[[ -n $uml2 ]] || fail "no host pid for the guest on $ring2"
kill -STOP "$uml2"
uml --timeout 120 --ring "$ring" -- /bin/sh -c "$guest pin-held 60 63" >"$work/g10.log" 2>&1 &
g10=$!
pids+=("$g10")
wait_ep 60 RECEIVING
sleep 2  # the vcopy is asked for, guest 1 answers its pin at once, guest 2 cannot
kill -KILL "$backend_pid"
wait "$g10"
rc=$?
kill -CONT "$uml2"
[[ $rc == 0 ]] || fail "pin-held guest exited $rc: $(cat "$work/g10.log")"
cat "$work/g10.log"
echo "ok: backend killed while holding a guest's pin -> the guest released the pages itself"
# A sanitizer build of the backend (VDVK_SANITIZE) reports into its log.
! grep -Eq 'Sanitizer|runtime error:' "$work/backend.log" || fail "sanitizer report in the backend log"
