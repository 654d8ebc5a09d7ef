#!/usr/bin/env bash
# Zero-copy vcopy between a UML guest process and a host-native process
# (ctest label "uml").
#
#   uml_guest_vcopy.sh HOST_BACKEND DVKCTL VCOPY_PEER GUEST_VCOPY [LOOPS]
#
# host-backend maps the guest's physical memory when the guest claims its
# ring; the guest driver pins the caller's pages and sends their physical
# extents; the backend copies straight between them and the host process.
# Checks: 1 B / 4 KiB / 1 MiB both ways with content checks, EDVSFAULT for bad
# pointers without a kernel oops, EDVSNOSYS for a vcopy the host process
# starts into the guest (unsupported), and the backend's vcopy_zero_copy_bytes
# grew by at least every byte the guest moved. Prints the 1 MiB MB/s.
# Skips (77) without a kernel whose vdvk driver has VDVK_IOC_CALL.
set -uo pipefail

backend=${1:?usage: see header}
dvkctl=${2:?}
peer=${3:?}
guest=${4:?}
loops=${5:-20}

test_name=uml_guest_vcopy
# shellcheck source=guest_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/guest_test_lib.sh"

ring=$work/g1.ring
sock=$work/node5.sock
export VDVK_SOCKET=$sock
echo "dc0_nr_sysprocs = 128" >"$work/backend.conf"
"$backend" --node 5 --socket "$sock" --config "$work/backend.conf" --guest-ring "$ring" >"$work/backend.log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
for _ in $(seq 100); do
	[[ -S $sock && -p $ring.kick && -f $ring ]] && break
	sleep 0.05
done
[[ -S $sock && -f $ring ]] || fail "backend did not start"

"$peer" 11 $((2 << 20)) >"$work/peer.log" 2>&1 &
peer_pid=$!
pids+=("$peer_pid")
for _ in $(seq 100); do grep -q bound "$work/peer.log" && break; sleep 0.05; done
grep -q bound "$work/peer.log" || fail "vcopy_peer did not bind: $(cat "$work/peer.log")"

zero_copy() { "$dvkctl" status | grep -o 'vcopy_zero_copy_bytes=[0-9]*' | cut -d= -f2; }
before=$(zero_copy)
[[ -n $before ]] || fail "dvkctl status: no vcopy_zero_copy_bytes"

out=$(uml --timeout 120 --ring "$ring" -- /bin/sh -c \
	"$guest 11 42 $loops; rc=\$?; dmesg | grep -i -E 'oops|bug:|panic|call trace'; exit \$rc" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest exited $rc"
for want in 'vcopy 1 bytes both ways ok' 'vcopy 4096 bytes both ways ok' \
	'vcopy 1048576 bytes both ways ok' 'bad pointers -> EDVSFAULT' \
	'host-initiated vcopy into the guest -> EDVSNOSYS' 'guest vcopy ok'; do
	grep -q "$want" <<<"$out" || fail "guest did not say '$want'"
done
! grep -Eqi 'oops|bug:|panic|call trace' <<<"$out" || fail "kernel trouble in the guest"
wait "$peer_pid" || fail "vcopy_peer exited $?: $(cat "$work/peer.log")"
grep -q 'guest memory mapped' "$work/backend.log" || fail "backend did not map guest memory"

after=$(zero_copy)
moved=$((2 * (1 + 4096 + (1 << 20)) + 2 * loops * (1 << 20)))
(( after - before >= moved )) ||
	fail "vcopy_zero_copy_bytes grew by $((after - before)), want >= $moved"
echo "ok: guest<->host vcopy 1 B/4 KiB/1 MiB both ways, EDVSFAULT on bad pointers,"
echo "    zero-copy bytes +$((after - before)) (>= $moved)"
kill -0 "$backend_pid" || fail "backend died"
! grep -Eq 'Sanitizer|runtime error:' "$work/backend.log" || fail "sanitizer report in the backend log"
