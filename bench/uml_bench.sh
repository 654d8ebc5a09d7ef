#!/bin/bash
# vdvk-uml-bench - DVK figures of UML guests, each next to a baseline measured
# in the same run with the same CPU placement:
#   guest<->guest sendrec round trip (two guests, two rings, one backend)
#       vs a pipe ping-pong between two processes inside one guest;
#   guest<->host-native sendrec round trip vs the same between two host processes;
#   a 64 MiB m3ftp transfer guest -> guest (MB/s, share of bytes that took the
#       zero-copy path) vs the same transfer between two host processes: two
#       gets each, the second is the target's line, the first after the
#       receiving guest's boot has a line of its own.
#
#   vdvk-uml-bench [ITERS] [MB] [PLACEMENT...]
#       ITERS round trips (default 5000), MB MiB transferred (default 64),
#       placements (default: split one-cpu):
#         split    guest 1 pinned to CPU 0, guest 2 to CPU 1; backend and host
#                  processes unpinned
#         one-cpu  guests, backend and host processes all pinned to CPU 0
#
# VDVK_BENCH_RT=1 runs the backend, the host processes and the guests under
# SCHED_FIFO (chrt -f 10): on a machine busy with other work this keeps that
# work from dominating the figures (it is not how vdvk is deployed; said in
# the header).
#
# VDVK_BENCH_BACKEND_FLAGS adds host-backend flags (e.g. "--guest-poll-us 50"
# for a backend with a CPU of its own); VDVK_BENCH_RING_OPTS adds guest driver
# options to each ring (e.g. ",poll_us=0": the guests never spin for an
# answer; default: the driver's 50 us). The header shows both.
#
# Uses the launcher's kernel ($VDVK_UML_KERNEL, else the build-kernel.sh
# cache). Lines: what, baseline, ours (vdvk), ratio, placement and target.
# A benchmark, not a test: a missed target or a figure that cannot be measured
# yet (said on its line) does not fail it; only a broken setup does.
set -u
case ${1:-} in -h|--help) sed -n '2,30p' "$0" | sed '/^set -u/,$d; s/^# \{0,1\}//'; exit 0 ;; esac
BIN="@CMAKE_BINARY_DIR@/bin"
launcher=${VDVK_UML_LAUNCHER:-@VDVK_UML_LAUNCHER@}
backend=${VDVK_HOST_BACKEND:-$BIN/host-backend}
ITERS=${1:-5000}
MB=${2:-64}
shift $(($# < 2 ? $# : 2))
placements=("$@")
((${#placements[@]})) || placements=(split one-cpu)
[[ $ITERS =~ ^[1-9][0-9]*$ && $MB =~ ^[1-9][0-9]*$ ]] || { echo "usage: vdvk-uml-bench [ITERS] [MB] [split|one-cpu ...] (--help)" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/vdvk-uml-bench-XXXXXX") || exit 2
pids=()
die() {
	echo "vdvk-uml-bench: $*" >&2
	for f in "$dir"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 8 "$f" >&2; }; done
	exit 1
}
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
for f in "$backend" "$launcher" "$BIN"/{dvkctl,latency_server,latency_client,m3ftpd,m3ftp} \
	"$BIN"/{latency_server,latency_client,m3ftpd,m3ftp}-guest "$BIN/uml-pipe-pingpong"; do
	[ -x "$f" ] || die "missing $f (build it first: cmake --build build)"
done
# The guest mounts a tmpfs on /tmp: binaries under /tmp need the host's.
tmpopt=()
[[ $BIN != /tmp/* ]] || tmpopt=(--host-tmp)
# Guest memory: the transfer's file and its copy live in the guests' tmpfs.
gmem=$((MB * 2 + 128))M

line() { printf "%-46s %-20s %-22s %-8s %s\n" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else printf "-" }'; }
# The number after KEY in text: "avg 12.3 us" -> field "$out" avg
field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$1"; }
# mbs_of N TEXT: the MB/s of the Nth "(X MB/s)" in m3ftp's output
mbs_of() { grep -o '([0-9.]* MB/s)' <<<"$2" | sed -n "$1p" | tr -d '(' | cut -d' ' -f1; }
stat_of() { VDVK_SOCKET=$sock "$BIN/dvkctl" status | grep -o "$1=[0-9]*" | head -1 | cut -d= -f2; }

rt=()
[[ ${VDVK_BENCH_RT:-0} == 1 ]] && rt=(chrt -f 10)
read -r -a backend_flags <<<"${VDVK_BENCH_BACKEND_FLAGS:-}"
ring_opts=${VDVK_BENCH_RING_OPTS:-}
# guest CPU RING CMD: boot a guest on RING pinned to CPU, run CMD (a shell line).
# Call it only in a subshell ($(guest ...) or guest ... &): it execs the
# launcher, so that killing the job's pid reaches the launcher, which then
# kills the whole guest.
guest() {
	local cpu=$1 ring=$2
	shift 2
	exec "${rt[@]}" "$launcher" "${tmpopt[@]}" --timeout 600 --mem "$gmem" --cpu "$cpu" --ring "$ring$ring_opts" -- /bin/sh -c "$*"
}

# Per placement: host_pin (a taskset prefix or nothing), CPUs of the guests.
setup_placement() {
	case $1 in
	split) host_pin=("${rt[@]}"); g1cpu=0; g2cpu=1; pdesc="g1 CPU0, g2 CPU1, host free" ;;
	one-cpu) host_pin=("${rt[@]}" taskset -c 0); g1cpu=0; g2cpu=0; pdesc="all on CPU0" ;;
	*) die "unknown placement '$1' (split, one-cpu)" ;;
	esac
	if [[ $1 == split && $(nproc) -lt 2 ]]; then g2cpu=0; pdesc="g1+g2 CPU0 (1 CPU), host free"; fi
}

start_backend() {
	sock=$dir/$1.sock
	ring1=$dir/$1-g1.ring
	ring2=$dir/$1-g2.ring
	# Guest servers bind system slots.
	echo "dc0_nr_sysprocs = 128" >"$dir/backend.conf"
	"${host_pin[@]}" "$backend" --node 5 --socket "$sock" --config "$dir/backend.conf" \
		--guest-ring "$ring1" --guest-ring "$ring2" "${backend_flags[@]}" >"$dir/backend-$1.log" 2>&1 &
	backend_pid=$!
	pids+=("$backend_pid")
	for _ in $(seq 200); do
		[[ -S $sock && -p $ring2.wake && -f $ring2 ]] && return 0
		sleep 0.05
	done
	die "backend did not start"
}
stop_backend() {
	kill "$backend_pid" 2>/dev/null
	wait "$backend_pid" 2>/dev/null
}
# Waits (at most 30 s) until the backend saw the guest on ring $1 die and reset
# the ring; a guest booted before that finds it still claimed.
wait_ring_free() {
	local n=$2
	for _ in $(seq 600); do
		(($(grep -c "guest ring $1 (domain [0-9]*): guest (host pid [0-9]*) died" "$dir/backend-$3.log") >= n)) && return 0
		sleep 0.05
	done
	die "backend did not notice the end of guest #$n on $1"
}

# CPU time the hypervisor takes from a VM ("steal") moves every figure, the baselines' too.
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t }' /proc/stat; }
read -r steal0 total0 < <(cpu_ticks)
echo "vdvk-uml-bench: $ITERS round trips of 64 B, $MB MiB transfers, $(nproc) CPUs, placements: ${placements[*]}"
echo "  kernel ${VDVK_UML_KERNEL:-<launcher default>}; each UML guest is pinned to one CPU by the launcher (--cpu)"
echo "  scheduling: $([[ ${#rt[@]} -gt 0 ]] && echo "SCHED_FIFO 10 (VDVK_BENCH_RT=1)" || echo "normal"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  backend flags: ${backend_flags[*]:-none (poll window 50 us after host-native work, none after guest work)}"
echo "  guest ring options: ${ring_opts:-none (the driver spins up to 50 us for an answer)}"
line "what" "baseline" "ours (vdvk)" "ratio" "placement / target"

for pl in "${placements[@]}"; do
	setup_placement "$pl"
	start_backend "$pl"
	export VDVK_SOCKET=$sock
	n1=0 n2=0

	# ---- in-guest pipe ping-pong (baseline of guest<->guest sendrec), and
	# sendrec between two processes of one guest (for the record) ----
	out=$(guest "$g1cpu" "$ring1" "$BIN/uml-pipe-pingpong $ITERS 64 &&
		{ $BIN/latency_server-guest --ep 20 --count $((ITERS + 200)) >/dev/null &
		  $BIN/latency_client-guest --server-ep 20 --ep 50 --loops 200 --wait-ms 60000 >/dev/null &&
		  $BIN/latency_client-guest --server-ep 20 --ep 51 --loops $ITERS --wait-ms 60000 && wait; }" 2>&1) ||
		die "in-guest baselines: $out"
	n1=$((n1 + 1))
	pipe_rtt=$(field "$out" rtt_us)
	same_rtt=$(field "$(grep latency_client-guest <<<"$out")" avg)
	[[ -n $pipe_rtt && -n $same_rtt ]] || die "no figures from the guest: $out"
	wait_ring_free "$ring1" $n1 "$pl"

	# ---- guest <-> guest over two rings ----
	guest "$g1cpu" "$ring1" "$BIN/latency_server-guest --ep 21 --count $((ITERS + 200))" >"$dir/gg-server.log" 2>&1 &
	gs=$!
	pids+=("$gs")
	out=$(guest "$g2cpu" "$ring2" "$BIN/latency_client-guest --server-ep 21 --ep 52 --loops 200 --wait-ms 60000 >/dev/null &&
		$BIN/latency_client-guest --server-ep 21 --ep 53 --loops $ITERS --wait-ms 60000" 2>&1) ||
		die "guest<->guest sendrec: $out"
	wait "$gs" || die "guest server: $(cat "$dir/gg-server.log")"
	n1=$((n1 + 1)) n2=$((n2 + 1))
	gg_rtt=$(field "$out" avg)
	line "guest<->guest sendrec RTT, 64 B" "$pipe_rtt us (pipe)" "$gg_rtt us" "$(ratio "$gg_rtt" "$pipe_rtt")" "$pl ($pdesc); target <= 1.5x"
	line "  same, both processes in one guest" "$pipe_rtt us (pipe)" "$same_rtt us" "$(ratio "$same_rtt" "$pipe_rtt")" "$pl (g1 only)"
	wait_ring_free "$ring1" $n1 "$pl"
	wait_ring_free "$ring2" $n2 "$pl"

	# ---- guest <-> host-native, and the host-native baseline ----
	"${host_pin[@]}" "$BIN/latency_server" --ep 11 >"$dir/host-server.log" 2>&1 &
	hs=$!
	pids+=("$hs")
	"${host_pin[@]}" "$BIN/latency_client" --server-ep 11 --ep 60 --loops 200 --wait-ms 10000 >/dev/null ||
		die "host warm-up: $(cat "$dir/host-server.log")"
	out=$("${host_pin[@]}" "$BIN/latency_client" --server-ep 11 --ep 61 --loops "$ITERS") || die "host sendrec: $out"
	host_rtt=$(field "$out" avg)
	out=$(guest "$g1cpu" "$ring1" "$BIN/latency_client-guest --server-ep 11 --ep 54 --loops 200 >/dev/null &&
		$BIN/latency_client-guest --server-ep 11 --ep 55 --loops $ITERS" 2>&1) || die "guest->host sendrec: $out"
	n1=$((n1 + 1))
	gh_rtt=$(field "$out" avg)
	kill "$hs" 2>/dev/null
	wait "$hs" 2>/dev/null
	line "guest->host-native sendrec RTT, 64 B" "$host_rtt us (host)" "$gh_rtt us" "$(ratio "$gh_rtt" "$host_rtt")" "$pl ($pdesc)"
	wait_ring_free "$ring1" $n1 "$pl"

	# ---- m3ftp transfer: host -> host baseline, then guest -> guest ----
	# Two gets each: the first after boot also pays for the receiving guest's
	# RAM, which the host allocates at first touch (~3.5 us a page here: 64
	# MiB into a fresh guest's tmpfs alone writes at ~650 MB/s, later at ~1.7
	# GB/s); it gets a line of its own. The target line is the second get
	# (the first one's file deleted), both sides measured alike.
	mkdir -p "$dir/root" && head -c "${MB}M" /dev/urandom >"$dir/root/big" || die "cannot write the test file"
	"${host_pin[@]}" "$BIN/m3ftpd" --root "$dir/root" --ep 12 --transfers 2 >"$dir/host-ftpd.log" 2>&1 &
	hf=$!
	pids+=("$hf")
	out=$("${host_pin[@]}" "$BIN/m3ftp" --server-ep 12 --ep 62 get big "$dir/got" 2>&1 && rm -f "$dir/got" &&
		"${host_pin[@]}" "$BIN/m3ftp" --server-ep 12 --ep 62 get big "$dir/got" 2>&1) || die "host m3ftp: $out"
	wait "$hf"
	host_first=$(mbs_of 1 "$out") host_mbs=$(mbs_of 2 "$out")
	rm -f "$dir/got"
	zc0=$(stat_of vcopy_zero_copy_bytes) b0=$(stat_of vcopy_bounce_bytes)
	guest "$g1cpu" "$ring1" "mkdir \$VDVK_SCRATCH/root && head -c ${MB}M /dev/urandom >\$VDVK_SCRATCH/root/big &&
		$BIN/m3ftpd-guest --root \$VDVK_SCRATCH/root --ep 13 --transfers 2" >"$dir/gg-ftpd.log" 2>&1 &
	gf=$!
	pids+=("$gf")
	out=$(guest "$g2cpu" "$ring2" "$BIN/m3ftp-guest --server-ep 13 --ep 63 --wait-ms 120000 get big \$VDVK_SCRATCH/got &&
		rm \$VDVK_SCRATCH/got && $BIN/m3ftp-guest --server-ep 13 --ep 63 get big \$VDVK_SCRATCH/got" 2>&1)
	rc=$?
	zc1=$(stat_of vcopy_zero_copy_bytes) b1=$(stat_of vcopy_bounce_bytes)
	n1=$((n1 + 1)) n2=$((n2 + 1))
	what="m3ftp get ${MB} MiB, guest -> guest"
	if [[ $rc == 0 ]] && (($(grep -c ' MATCH$' <<<"$out") == 2)); then
		wait "$gf" || die "guest m3ftpd: $(cat "$dir/gg-ftpd.log")"
		gg_first=$(mbs_of 1 "$out") gg_mbs=$(mbs_of 2 "$out")
		zc=$((zc1 - zc0)) bo=$((b1 - b0))
		share=$(awk -v z="$zc" -v b="$bo" 'BEGIN { printf "%.0f%%", (z + b > 0 ? 100 * z / (z + b) : 0) }')
		line "$what" "$host_mbs MB/s (host)" "$gg_mbs MB/s" "$(ratio "$gg_mbs" "$host_mbs")" "$pl; target >= 1000 MB/s"
		line "  first get after boot" "$host_first MB/s (host)" "$gg_first MB/s" "$(ratio "$gg_first" "$host_first")" "$pl; receiving guest's RAM touched for the first time"
		line "  bytes on the zero-copy path" "" "$share" "" "zero-copy $zc B, bounce $bo B (both gets)"
	else
		# The guest server's vcopy into the other guest failed (or the client
		# did): say why, from the programs' own words.
		kill "$gf" 2>/dev/null
		wait "$gf" 2>/dev/null
		why=$(cat "$dir/gg-ftpd.log" - <<<"$out" | grep -o 'EDVS[A-Z0-9]*' | sort -u | tr '\n' ' ')
		line "$what" "$host_mbs MB/s (host)" "not measured" "-" "$pl; transfer failed: ${why:-see below}"
		if grep -q EDVSNOSYS <<<"$why"; then
			echo "  (guest<->guest vcopy answers EDVSNOSYS in this build: not implemented yet)"
		else
			tail -n 5 "$dir/gg-ftpd.log" | sed 's/^/  | /'
			sed 's/^/  | /' <<<"$out" | tail -n 5
		fi
	fi
	rm -rf "$dir/root"
	wait_ring_free "$ring1" $n1 "$pl"
	wait_ring_free "$ring2" $n2 "$pl"
	stop_backend
done
read -r steal1 total1 < <(cpu_ticks)
echo "vdvk-uml-bench: done; CPU time stolen by the hypervisor during the run: $(awk -v s=$((steal1 - steal0)) \
	-v t=$((total1 - total0)) 'BEGIN { printf "%.0f%%", (t > 0 ? 100 * s / t : 0) }')"
