#!/usr/bin/env bash
# Boot smoke tests for the vdvk UML guest (ctest label "uml").
#
#   uml_smoke.sh hello             exit status and output pass through the guest
#   uml_smoke.sh xstate PROGRAM    a dynamic program's printf/AVX-512 state is intact
#   uml_smoke.sh timeout           --timeout kills the guest (124), nothing is left
#   uml_smoke.sh sigterm           killing the launcher kills the guest, nothing is left
#   uml_smoke.sh driver MAKE_RING NODE_ID_PROG
#                                  /dev/vdvk from a valid ring returns its node id;
#                                  corrupted headers and unknown ring options
#                                  are refused with a log line
#
# Kernel: $VDVK_UML_KERNEL, else the build-kernel.sh cache. Without a kernel
# the test is skipped (exit 77, ctest SKIP_RETURN_CODE).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
launcher=${VDVK_UML_LAUNCHER:-$here/../launcher/vdvk-uml}
kernel=${VDVK_UML_KERNEL:-${XDG_CACHE_HOME:-$HOME/.cache}/vdvk/uml/linux}
if [[ ! -x $kernel ]]; then
	echo "SKIP: no UML kernel at $kernel (run uml-vdvk/kernel/build-kernel.sh or set VDVK_UML_KERNEL)"
	exit 77
fi
export VDVK_UML_KERNEL=$kernel

fail() { echo "FAIL: $*"; exit 1; }

# Each test gets its own TMPDIR so "nothing left behind" can be checked.
work=$(mktemp -d "${TMPDIR:-/tmp}/uml_smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work

# Fails if a guest of instance $1 still runs or its directory still exists.
check_no_leftovers() {
	local umid=$1 left
	sleep 0.2
	left=$(pgrep -f -- "umid=$umid " || true)
	[[ -z $left ]] || fail "processes left behind: $(ps -o pid,cmd -p "${left//$'\n'/,}")"
	left=$(find "$work" -mindepth 1 -maxdepth 1 -name 'vdvk-uml.*')
	[[ -z $left ]] || fail "instance directory left behind: $left"
}

case ${1:-} in
hello)
	out=$("$launcher" --timeout 60 -- /bin/sh -c 'echo hello; echo "to stderr" >&2; exit 3')
	rc=$?
	[[ $rc == 3 ]] || fail "exit status $rc, want 3 (output: '$out')"
	[[ $out == $'hello\nto stderr' ]] || fail "output '$out', want 'hello' and 'to stderr' lines"
	echo "ok: output and exit status 3 passed through"
	# --help prints the whole header, down to its last line.
	out=$("$launcher" --help) || fail "--help exit status $?"
	[[ $(tail -n 1 <<<"$out") == "(boot failure, panic), 2 on bad usage." ]] || fail "--help cut short: $(tail -n 2 <<<"$out")"
	grep -q -- "--ring PATH\[,OPTS\]" <<<"$out" || fail "--help does not show --ring PATH[,OPTS]"
	# Success too, and a guest-side tmpfs on /tmp that is writable.
	out=$("$launcher" --timeout 60 -- /bin/sh -c 'echo x >/tmp/f && cat /tmp/f && ! touch /etc/vdvk-ro-check 2>/dev/null')
	rc=$?
	[[ $rc == 0 && $out == x ]] || fail "tmpfs/read-only root check: status $rc output '$out'"
	echo "ok: /tmp writable, / read-only, exit status 0"
	# stdin: EOF by default (a reader must not hang), our input with --stdin.
	out=$("$launcher" --timeout 30 -- /bin/sh -c 'cat; echo eof')
	[[ $? == 0 && $out == eof ]] || fail "default stdin is not at EOF: '$out'"
	out=$(printf 'a\nb\nc\n' | "$launcher" --timeout 30 --stdin -- /usr/bin/wc -l)
	[[ $? == 0 && $out == 3 ]] || fail "--stdin: wc -l said '$out', want 3"
	echo "ok: stdin at EOF by default, passed through with --stdin"
	;;
xstate)
	prog=${2:?usage: uml_smoke.sh xstate PROGRAM}
	# Not "ldd | grep -q": with pipefail, grep's early exit fails ldd (SIGPIPE).
	libs=$(ldd "$prog" 2>/dev/null || true)
	[[ $libs == *libc.so* ]] || fail "$prog is not dynamically linked against libc"
	opts=()
	[[ $prog != /tmp/* ]] || opts=(--host-tmp)	# the guest's /tmp is its own
	out=$("$launcher" --timeout 60 "${opts[@]}" -- "$prog")
	rc=$?
	echo "$out"
	[[ $rc == 0 ]] || fail "xstate_check exited $rc"
	grep -qx 'xstate_check: printf vdvk-printf-s ok' <<<"$out" || fail "printf(\"%s\") output wrong"
	;;
timeout)
	umid=smoke-timeout-$$
	start=$SECONDS
	"$launcher" --timeout 2 --umid "$umid" -- /bin/sleep 30
	rc=$?
	elapsed=$((SECONDS - start))
	[[ $rc == 124 ]] || fail "exit status $rc, want 124"
	((elapsed < 15)) || fail "took ${elapsed}s for a 2s timeout"
	check_no_leftovers "$umid"
	echo "ok: timeout -> 124 after ${elapsed}s, no processes or files left"
	;;
sigterm)
	umid=smoke-sigterm-$$
	"$launcher" --timeout 60 --umid "$umid" -- /bin/sleep 30 &
	pid=$!
	# Wait until the guest runs (its kernel process exists), then stop the launcher.
	for _ in $(seq 100); do
		pgrep -f -- "umid=$umid " >/dev/null && break
		sleep 0.1
	done
	pgrep -f -- "umid=$umid " >/dev/null || fail "guest never started"
	sleep 0.5
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	[[ $rc == 143 ]] || fail "launcher exit status $rc after SIGTERM, want 143"
	check_no_leftovers "$umid"
	echo "ok: SIGTERM to the launcher killed the guest, nothing left"
	;;
driver)
	make_ring=${2:?usage: uml_smoke.sh driver MAKE_RING NODE_ID_PROG}
	node_id_prog=${3:?usage: uml_smoke.sh driver MAKE_RING NODE_ID_PROG}
	if ! grep -aq 'vdvk0=ring:PATH' "$kernel"; then
		echo "SKIP: $kernel was built without the vdvk driver"
		exit 77
	fi
	opts=()
	[[ $node_id_prog != /tmp/* ]] || opts=(--host-tmp)
	# The ring is opened by the UML kernel process on the host: the guest's
	# tmpfs on /tmp does not hide it.
	"$make_ring" "$work/ring" 7 ok || fail "make_ring failed"
	out=$("$launcher" --timeout 60 "${opts[@]}" --ring "$work/ring" -- "$node_id_prog")
	rc=$?
	[[ $rc == 0 && $out == "node_id=7" ]] || fail "valid ring: status $rc output '$out'"
	echo "ok: /dev/vdvk reports node_id 7"

	# Two rings: vdvk0 and vdvk1 with their own node ids.
	"$make_ring" "$work/ring1" 12 ok || fail "make_ring failed"
	out=$("$launcher" --timeout 60 "${opts[@]}" --ring "$work/ring" --ring "$work/ring1" -- "$node_id_prog" /dev/vdvk1)
	rc=$?
	[[ $rc == 0 && $out == "node_id=12" ]] || fail "second ring: status $rc output '$out'"
	echo "ok: /dev/vdvk1 reports node_id 12"

	for mode in bad-magic bad-version bad-entries bad-offset overlap truncated bad-node; do
		"$make_ring" "$work/bad" 7 "$mode" || fail "make_ring $mode failed"
		# The guest must boot on, without /dev/vdvk, and say why in its log.
		out=$("$launcher" --timeout 60 --ring "$work/bad" -- /bin/sh -c \
			'test ! -e /dev/vdvk || echo "DEVICE PRESENT"; dmesg')
		rc=$?
		[[ $rc == 0 ]] || fail "$mode: guest status $rc: $out"
		! grep -q "DEVICE PRESENT" <<<"$out" || fail "$mode: /dev/vdvk registered for a bad ring"
		grep -q "vdvk0: refusing ring $work/bad: " <<<"$out" || fail "$mode: no refusal line in the log: $out"
		! grep -Eqi "oops|BUG:|panic|call trace" <<<"$out" || fail "$mode: kernel trouble: $out"
		echo "ok: $mode refused: $(grep -o 'refusing ring .*' <<<"$out")"
	done
	# The attach itself is logged with the node id and the poll window
	# (default 50 us; poll_us=N sets it).
	out=$("$launcher" --timeout 60 --ring "$work/ring" -- /bin/sh -c 'dmesg') || fail "guest failed"
	grep -q "node 7 as /dev/vdvk, poll 50 us" <<<"$out" || fail "no attach line (default poll) in the log: $out"
	out=$("$launcher" --timeout 60 --ring "$work/ring,poll_us=0" -- /bin/sh -c 'dmesg') || fail "guest failed"
	grep -q "node 7 as /dev/vdvk, poll 0 us" <<<"$out" || fail "poll_us=0 not in the attach line: $out"
	echo "ok: attach logged with the poll window (default 50 us, poll_us=0 honoured)"
	# Options that could change the kernel command line: the launcher refuses them.
	for opt in "poll_us" "poll_us=1 quiet" "Poll=1" "poll_us=-1"; do
		out=$("$launcher" --timeout 60 --ring "$work/ring,$opt" -- /bin/true 2>&1)
		rc=$?
		[[ $rc == 2 ]] || fail "launcher option '$opt': status $rc, want 2: $out"
		grep -q "options must look like ,name=number" <<<"$out" || fail "launcher option '$opt': no reason given: $out"
	done
	echo "ok: malformed ring options refused by the launcher (status 2)"
	# Options the driver does not know, or out of range: refused, no device.
	for opt in poll_us=1001 spin=1 poll_us=5,poll_us=99999; do
		out=$("$launcher" --timeout 60 --ring "$work/ring,$opt" -- /bin/sh -c \
			'test ! -e /dev/vdvk || echo "DEVICE PRESENT"; dmesg')
		rc=$?
		[[ $rc == 0 ]] || fail "option $opt: guest status $rc: $out"
		! grep -q "DEVICE PRESENT" <<<"$out" || fail "option $opt: /dev/vdvk registered"
		grep -q "vdvk0: refusing 'ring:$work/ring,$opt': unknown option" <<<"$out" ||
			fail "option $opt: no refusal line in the log: $out"
		echo "ok: ,$opt refused"
	done
	;;
*)
	echo "usage: $0 hello|xstate PROGRAM|timeout|sigterm|driver MAKE_RING NODE_ID_PROG" >&2
	exit 2
	;;
esac
