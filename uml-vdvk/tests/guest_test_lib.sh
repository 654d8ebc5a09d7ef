# guest_test_lib.sh - sourced by the uml.guest_* tests (bash). Before sourcing,
# set `guest` (the static guest test program) and `test_name`.
# Provides: launcher, kernel checks (exit 77 = ctest skip), `uml` (vdvk-uml with
# the right /tmp option), work dir + cleanup of everything in `pids`, `fail`,
# `wait_ep EP STATE`, `counter NAME` and `zero_copy` (need `dvkctl`), `start_backend RING...`,
# `backend_ok`.

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

# The guest mounts its own tmpfs on /tmp; a test binary built under /tmp (a
# checkout there, as CI may use) is only visible with --host-tmp.
tmpopt=()
[[ $guest != /tmp/* ]] || tmpopt=(--host-tmp)
uml() { "$launcher" "${tmpopt[@]}" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/${test_name}.XXXXXX")
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

# Waits until endpoint EP of DC 0 shows STATE in `dvkctl proc` (a guest's
# output only arrives when it exits, so readiness is read from the backend).
wait_ep() {
	for _ in $(seq 300); do
		"$dvkctl" proc 0 "$1" 2>/dev/null | grep -q -- "$2" && return 0
		sleep 0.05
	done
	fail "ep $1 never showed '$2': $("$dvkctl" proc 0 "$1" 2>&1)"
}

# Starts host-backend (`backend`) as node 5 on $work/node5.sock serving guest
# rings RING[,user=NAME]..., with DC 0's system slots raised to 128 (guest
# servers bind low endpoints); waits for the socket and the ring files. Sets
# backend_pid and exports VDVK_SOCKET.
start_backend() {
	sock=$work/node5.sock
	export VDVK_SOCKET=$sock
	echo "dc0_nr_sysprocs = 128" >"$work/backend.conf"
	local args=() r
	for r in "$@"; do args+=(--guest-ring "$r"); done
	"$backend" --node 5 --socket "$sock" --config "$work/backend.conf" "${args[@]}" >"$work/backend.log" 2>&1 &
	backend_pid=$!
	pids+=("$backend_pid")
	local ok
	for _ in $(seq 100); do
		ok=1
		[[ -S $sock ]] || ok=0
		for r in "${@%%,*}"; do [[ -f $r && -p $r.kick && -p $r.wake && -S $r.mem ]] || ok=0; done
		((ok)) && return 0
		sleep 0.05
	done
	fail "backend did not start"
}

# counter NAME: one of the backend's counters in `dvkctl status`.
counter() { "$dvkctl" status | grep -o "$1=[0-9]*" | cut -d= -f2; }
# The backend's vcopy_zero_copy_bytes counter.
zero_copy() { counter vcopy_zero_copy_bytes; }

# The backend is alive and its log (a sanitizer build's) has no report.
backend_ok() {
	kill -0 "$backend_pid" || fail "backend died"
	! grep -Eq 'Sanitizer|runtime error:' "$work/backend.log" || fail "sanitizer report in the backend log"
}
