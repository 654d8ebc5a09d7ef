#!/usr/bin/env bash
# Zero-copy vcopy between a UML guest process and a host-native process, then
# between processes of two guests (ctest label "uml").
#
#   uml_guest_vcopy.sh HOST_BACKEND DVKCTL VCOPY_PEER GUEST_VCOPY GUEST_PEER [LOOPS]
#
# GUEST_PEER is vcopy_peer built as a static guest program.
# host-backend maps the guest's physical memory when the guest claims its
# ring; the guest driver pins the caller's pages and sends their physical
# extents; the backend copies straight between them and the host process.
# Checks: 1 B / 4 KiB / 1 MiB both ways with content checks, EDVSFAULT for bad
# pointers without a kernel oops, the peer copying into the blocked guest
# process (its guest pins the pages on the backend's request), and the
# backend's vcopy_zero_copy_bytes grew by at least every byte moved. The same
# again with the peer in a second guest (guest <-> guest, one copy between the
# two guests' memories), 64 x 1 MiB each way. Prints the 1 MiB MB/s. Last, a
# guest run by user nobody against a root backend: with --guest-ring
# PATH,user=nobody its vcopies take the same zero-copy path (its memory fd
# arrives over PATH.mem, no /proc access); on a ring the backend kept for
# itself its driver says why it cannot attach. (Skipped when not root.)
# Skips (77) without a kernel whose vdvk driver has VDVK_IOC_CALL.
set -uo pipefail

backend=${1:?usage: see header}
dvkctl=${2:?}
peer=${3:?}
guest=${4:?}
guest_peer=${5:?}
loops=${6:-20}

test_name=uml_guest_vcopy
# shellcheck source=guest_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/guest_test_lib.sh"

ring=$work/g1.ring
ring2=$work/g2.ring
ring3=$work/g3.ring  # for a guest of user nobody (last phase)
chmod 755 "$work"  # that user must reach ring3
start_backend "$ring" "$ring2" "$ring3,user=nobody"

# Checks one guest_vcopy run (its output, LOOPS timed MiB each way): every
# phase reported, no kernel trouble, and zero-copy bytes grew by at least
# every byte moved since `before`. Sets moved and moved_zc.
check_run() {
	local what=$1 out=$2 n=$3 want
	for want in 'vcopy 1 bytes both ways ok' 'vcopy 4096 bytes both ways ok' \
		'vcopy 1048576 bytes both ways ok' 'bad pointers -> EDVSFAULT' \
		'peer-initiated vcopy into the guest ok' 'guest vcopy ok'; do
		grep -q "$want" <<<"$out" || fail "$what: guest did not say '$want'"
	done
	! grep -Eqi 'oops|bug:|panic|call trace' <<<"$out" || fail "$what: kernel trouble in the guest"
	moved=$((2 * (1 + 4096 + (1 << 20)) + (1 << 20) + 4096 + 2 * n * (1 << 20)))
	moved_zc=$(($(zero_copy) - before))
	((moved_zc >= moved)) || fail "$what: vcopy_zero_copy_bytes grew by $moved_zc, want >= $moved"
}

# Starts the host vcopy_peer on endpoint 11, logging to LOG; sets peer_pid.
start_peer() {
	"$peer" 11 $((2 << 20)) >"$1" 2>&1 &
	peer_pid=$!
	pids+=("$peer_pid")
	for _ in $(seq 100); do grep -q bound "$1" && break; sleep 0.05; done
	grep -q bound "$1" || fail "vcopy_peer did not bind: $(cat "$1")"
}

start_peer "$work/peer.log"

before=$(zero_copy)
[[ -n $before ]] || fail "dvkctl status: no vcopy_zero_copy_bytes"

out=$(uml --timeout 120 --ring "$ring" -- /bin/sh -c \
	"$guest 11 42 $loops; rc=\$?; dmesg | grep -i -E 'oops|bug:|panic|call trace'; exit \$rc" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest exited $rc"
check_run "guest<->host" "$out" "$loops"
wait "$peer_pid" || fail "vcopy_peer exited $?: $(cat "$work/peer.log")"
grep -q 'guest memory mapped' "$work/backend.log" || fail "backend did not map guest memory"
echo "ok: guest<->host vcopy 1 B/4 KiB/1 MiB both ways, EDVSFAULT on bad pointers,"
echo "    zero-copy bytes +$moved_zc (>= $moved)"
backend_ok

# Guest <-> guest: the peer in a second guest (ring2), on the other CPU if
# there is one. Every copy is between two guests' memories; the blocked
# party's pages are pinned by its own guest on request.
cpu2=()
(($(nproc) > 1)) && cpu2=(--cpu 1)
gloops=64
before=$(zero_copy)
uml --timeout 200 "${cpu2[@]}" --ring "$ring2" -- /bin/sh -c \
	"$guest_peer 12 $((2 << 20)); rc=\$?; dmesg | grep -i -E 'oops|bug:|panic|call trace'; exit \$rc" \
	>"$work/gpeer.log" 2>&1 &
gpeer=$!
pids+=("$gpeer")
wait_ep 12 RECEIVING
out=$(uml --timeout 200 --ring "$ring" -- /bin/sh -c \
	"$guest 12 43 $gloops; rc=\$?; dmesg | grep -i -E 'oops|bug:|panic|call trace'; exit \$rc" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest (guest<->guest) exited $rc"
wait "$gpeer" || fail "guest vcopy_peer exited $?: $(cat "$work/gpeer.log")"
! grep -Eqi 'oops|bug:|panic|call trace' "$work/gpeer.log" || fail "kernel trouble in the peer's guest"
check_run "guest<->guest" "$out" "$gloops"
echo "ok: guest<->guest vcopy both ways (caller and pinned peer), ${gloops} MiB each way timed,"
echo "    zero-copy bytes +$moved_zc (>= $moved)"
backend_ok

# A guest of another user: the backend (root) gives ring3 to nobody; the guest
# runs as nobody with a copy of the kernel it can read.
if [[ $(id -u) != 0 ]] || ! id nobody >/dev/null 2>&1 || ! command -v runuser >/dev/null; then
	echo "skip: guest of another user (needs root, user nobody and runuser)"
	exit 0
fi
if ! runuser -u nobody -- test -r "$guest" -a -x "$launcher"; then
	echo "skip: guest of another user ($guest or $launcher not readable by nobody)"
	exit 0
fi
nhome=$work/nobody
mkdir -p "$nhome" && chown nobody "$nhome"
cp "$kernel" "$work/linux" && chmod 755 "$work/linux"
uml_nobody() {
	runuser -u nobody -- env HOME="$nhome" TMPDIR="$nhome" "$launcher" "${tmpopt[@]}" \
		--kernel "$work/linux" "$@"
}
start_peer "$work/peer3.log"
before=$(zero_copy)
out=$(uml_nobody --timeout 120 --ring "$ring3" -- /bin/sh -c \
	"$guest 11 44 4; rc=\$?; dmesg | grep -i -E 'oops|bug:|panic|call trace'; exit \$rc" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest of user nobody exited $rc"
check_run "guest of nobody<->host" "$out" 4
wait "$peer_pid" || fail "vcopy_peer exited $?: $(cat "$work/peer3.log")"
uml_pid=$(grep -o "g3.ring (domain 3): guest is host pid [0-9]*" "$work/backend.log" | grep -o '[0-9]*$')
grep -q "g3.ring (domain 3): guest memory mapped .*from host pid $uml_pid)" "$work/backend.log" ||
	fail "the memory of nobody's guest (host pid '$uml_pid') was not mapped from PATH.mem"
echo "ok: guest run by user nobody on a ring given to it (root backend): vcopy as above,"
echo "    zero-copy bytes +$moved_zc (>= $moved)"
# The same guest on a ring the backend kept for itself: refused, and said so.
out=$(uml_nobody --timeout 60 --ring "$ring" -- /bin/sh -c \
	"test -e /dev/vdvk && echo HAS-DEVICE; dmesg | grep vdvk0" 2>&1)
echo "$out"
! grep -q HAS-DEVICE <<<"$out" || fail "nobody's guest attached to a ring of root"
grep -q "vdvk0: cannot map ring file $ring: error -13" <<<"$out" ||
	fail "nobody's guest did not say why it cannot attach"
echo "ok: a guest of another user without user= gets no /dev/vdvk and says 'error -13'"
backend_ok
