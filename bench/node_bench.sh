#!/bin/bash
# vdvk-node-bench - cross-node figures of vdvk's node links, each next to the
# raw TCP figure measured in the same run between the same two network
# namespaces (created and removed here, joined by a veth pair; without
# permission for namespaces, loopback, said in the output).
#
#   vdvk-node-bench [ITERS] [MB]     (defaults 5000 round trips, 256 MiB)
#
# Lines: what, baseline (raw TCP), ours (vdvk), ratio, placement and target.
# Each figure is measured $VDVK_BENCH_REPEAT times (default 3, at most 5),
# baseline and ours alternated; a line gives the median and, in brackets,
# the range; the ratio is the median of the per-repeat ratios.
# A benchmark, not a test: it never fails on a missed target.
set -u
BIN="@CMAKE_BINARY_DIR@/bin"
backend=${VDVK_HOST_BACKEND:-$BIN/host-backend}
peer="@CMAKE_BINARY_DIR@/tests/nodes/node_peer"
tcp="$BIN/tcp_baseline"
ftp="$BIN/m3ftp"
ftpd="$BIN/m3ftpd"
case ${1:-} in -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
ITERS=${1:-5000}
MB=${2:-256}
REPEAT=${VDVK_BENCH_REPEAT:-3}
[[ $ITERS =~ ^[1-9][0-9]*$ && $MB =~ ^[1-9][0-9]*$ ]] || { echo "usage: vdvk-node-bench [ITERS] [MB] (--help)" >&2; exit 2; }
[[ $REPEAT =~ ^[1-5]$ ]] || { echo "vdvk-node-bench: VDVK_BENCH_REPEAT must be 1..5" >&2; exit 2; }
tag=$$
dir=$(mktemp -d /tmp/vdvk-node-bench-XXXXXX) || exit 2
pids=()
use_ns=0
declare -a ns addr host

die() { echo "vdvk-node-bench: $*" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -n 5 "$f" >&2; done; exit 1; }
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ $use_ns = 1 ] && { ip netns del "${ns[0]}"; ip netns del "${ns[1]}"; } 2>/dev/null
	rm -rf "$dir" "${files:-$dir}"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
for f in "$backend" "$peer" "$tcp" "$ftp" "$ftpd"; do [ -x "$f" ] || die "missing $f (build it first)"; done

if [ -z "${VDVK_TEST_LOOPBACK:-}" ] && ip netns add "vdvkb${tag}a" 2>/dev/null; then
	use_ns=1
	ns=("vdvkb${tag}a" "vdvkb${tag}b")
	ip netns add "${ns[1]}" || die "netns add"
	ip link add ve0 netns "${ns[0]}" type veth peer name ve1 netns "${ns[1]}" || die "veth"
	for i in 0 1; do
		ip -n "${ns[$i]}" addr add "10.79.0.$((i + 1))/24" dev "ve$i" || die "addr"
		ip -n "${ns[$i]}" link set "ve$i" up && ip -n "${ns[$i]}" link set lo up || die "link up"
		host[$i]="10.79.0.$((i + 1))"
		addr[$i]="${host[$i]}:7100"
	done
	placement="2 netns, veth"
else
	ip netns del "vdvkb${tag}a" 2>/dev/null
	base=$((21000 + (tag % 1000) * 4))
	host=(127.0.0.1 127.0.0.1)
	addr=("127.0.0.1:$base" "127.0.0.1:$((base + 1))")
	placement="loopback"
	echo "vdvk-node-bench: no network namespaces (cannot create them, or VDVK_TEST_LOOPBACK set): falling back to loopback (both nodes on 127.0.0.1)"
fi
tport=$((7200 + tag % 100))

# on NODE CMD...: run in that node's namespace
on() {
	local i=$1
	shift
	if [ $use_ns = 1 ]; then ip netns exec "${ns[$i]}" "$@"; else "$@"; fi
}
# bg LOG NODE CMD...: $! must be CMD itself (ip netns exec execs it), not a
# subshell around it, or cleanup's kill leaves CMD running.
bg() {
	local log=$1 i=$2
	shift 2
	if [ $use_ns = 1 ]; then
		VDVK_SOCKET="$dir/n$i.sock" ip netns exec "${ns[$i]}" "$@" >"$dir/$log.log" 2>&1 &
	else
		VDVK_SOCKET="$dir/n$i.sock" "$@" >"$dir/$log.log" 2>&1 &
	fi
	pids+=($!)
}
fg() { local i=$1; shift; VDVK_SOCKET="$dir/n$i.sock" on "$i" timeout 300 "$@"; }
wait_for() { for _ in $(seq 1000); do grep -q -- "$2" "$dir/$1.log" 2>/dev/null && return 0; sleep 0.01; done; return 1; }
now() { date +%s%N; }

for i in 0 1; do
	bg "b$i" "$i" "$backend" --node "$i" --socket "$dir/n$i.sock" --listen "${addr[$i]}" \
		--token bench --peer "$((1 - i))=${addr[$((1 - i))]}"
done
for i in 0 1; do wait_for "b$i" "link to node $((1 - i)) .* is up" || die "node links did not come up"; done
fg 0 "$peer" setup --ep 0 --nodes 1 >/dev/null || die "add_node on node 0"
fg 1 "$peer" setup --ep 0 --nodes 0 >/dev/null || die "add_node on node 1"

line() { printf "%-44s %-26s %-26s %-18s %s\n" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$1"; }
rate() { awk -v n="$1" -v ns="$2" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'; }      # N per second
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f", b / 1e3 / (ns / 1e6) }'; }  # B bytes, in MB/s
# fig UNIT VALUES...: the median, and the range when there are several.
fig() {
	local unit=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v u="$unit" '{ v[NR] = $1 }
		END { printf "%s%s", v[int((NR + 1) / 2)], u; if (NR > 1) printf " (%s-%s)", v[1], v[NR] }'
}
# report WHAT TARGET UNIT: one line from the arrays base, ours and ratios.
report() { line "$1" "$(fig "$3" "${base[@]}")" "$(fig "$3" "${ours[@]}")" "$(fig x "${ratios[@]}")" "$placement$2"; }

# The load average matters: spinning waits (the backend's poll window, libdvk's completion wait)
# lose to other busy processes on a shared machine, blocking TCP processes much less.
# On a VM the hypervisor may run other guests on our CPUs ("steal" in /proc/stat): every figure,
# the baseline's too, then swings 2-4x. The share of CPU time stolen during the run is printed last.
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t }' /proc/stat; }
read -r steal0 total0 < <(cpu_ticks)
echo "vdvk-node-bench: node 0 and node 1 ($placement), $ITERS round trips, $MB MiB transfers, $REPEAT repeats, $(nproc) CPUs, unpinned, load average $(cut -d' ' -f1-3 /proc/loadavg)"
line "what" "baseline (raw TCP)" "ours (vdvk)" "ratio" "placement / target"

# ---- round trip, 64 B ----
bg tpp 1 "$tcp" pingpong-server "$tport" 64
bg srv 1 "$peer" server --ep 10 --count 0 --nodes 0
wait_for srv ready || die "server not ready"
fg 0 "$peer" client --ep 59 --server 10 --node 1 --count 200 --nodes 1 >/dev/null || die "warm-up"
base=() ours=() ratios=()
for r in $(seq "$REPEAT"); do
	out=$(on 0 "$tcp" pingpong-client "${host[1]}" "$tport" 64 "$ITERS") || die "tcp pingpong: $out"
	base+=("$(field "$out" rtt_us)")
	out=$(fg 0 "$peer" client --ep $((60 + r)) --server 10 --node 1 --count "$ITERS" --nodes 1) || die "sendrec: $out"
	ours+=("$(field "$out" rtt_us)")
	ratios+=("$(ratio "${ours[-1]}" "${base[-1]}")")
done
report "cross-node round trip, 64 B (sendrec)" "; target <= 1.3x" " us"

# ---- throughput: each repeat measures the TCP stream, then m3ftp get and put, then vcopies ----
bg tst 1 "$tcp" stream-server "$((tport + 1))"
# m3ftp's files (3 x MB) go to tmpfs when it has room: the baseline moves memory between two
# processes, and this VM's disk (0.9-1.8 GB/s) would otherwise be most of what the put measures.
files=$dir
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
	(($(df --output=avail -k /dev/shm | tail -n1) > 3 * MB * 1024 + 65536)); then
	files=$(mktemp -d /dev/shm/vdvk-node-bench-XXXXXX) || die "mktemp in /dev/shm"
fi
fs=$(stat -f -c %T "$files")
mkdir -p "$files/root" "$files/local"
head -c "${MB}M" /dev/urandom >"$files/root/big"
bg ftpd 0 "$ftpd" --root "$files/root" --ep 12
fg 1 "$peer" setup --ep 0 --server 12 --node 0 >/dev/null || die "rmtbind m3ftpd"
n=$((MB / 4 > 0 ? MB / 4 : 1))  # 1 MiB vcopies each way
stream=() get=() put=() pull=() push=()
for r in $(seq "$REPEAT"); do
	out=$(on 0 "$tcp" stream-client "${host[1]}" "$((tport + 1))" $((MB * 1048576))) || die "tcp stream: $out"
	stream+=("$(field "$out" MBps)")
	rm -f "$files/local/got" "$files/root/up"
	t0=$(now)
	fg 1 "$ftp" --server-ep 12 get big "$files/local/got" >"$dir/get.log" 2>&1 || die "m3ftp get"
	t1=$(now)
	fg 1 "$ftp" --server-ep 12 put "$files/local/got" up >"$dir/put.log" 2>&1 || die "m3ftp put"
	t2=$(now)
	cmp -s "$files/root/big" "$files/local/got" && cmp -s "$files/root/big" "$files/root/up" || die "m3ftp files differ"
	get+=("$(mbps $((MB * 1048576)) $((t1 - t0)))")
	put+=("$(mbps $((MB * 1048576)) $((t2 - t1)))")
	# A vserver answers one vclient (its bye ends it): one each, on its own
	# endpoint; both below 30, where DC 0's system processes (receive, vcopy) are.
	bg "vs$r" 1 "$peer" vserver --ep $((24 + r)) --nodes 0
	wait_for "vs$r" ready || die "vserver not ready"
	out=$(fg 0 "$peer" vclient --ep $((19 + r)) --server $((24 + r)) --node 1 --count "$n" --nodes 1) || die "vclient: $out"
	pull+=("$(field "$out" pull_MBps)")
	push+=("$(field "$out" push_MBps)")
done
rm -rf "$files/root" "$files/local"
# throughput WHAT NAME: the line of one of the arrays against the streams of the same repeats.
throughput() {
	local -n vals=$2
	base=("${stream[@]}") ours=("${vals[@]}") ratios=()
	for i in "${!vals[@]}"; do ratios+=("$(ratio "${vals[$i]}" "${stream[$i]}")"); done
	report "$1" "; target >= 0.80x" " MB/s"
}
throughput "m3ftp get $MB MiB, node 0 -> node 1 ($fs)" get
throughput "m3ftp put $MB MiB, node 1 -> node 0 ($fs)" put
throughput "vcopy 1 MiB pull (node 1 -> node 0)" pull
throughput "vcopy 1 MiB push (node 0 -> node 1)" push

# ---- messages/s with 1/2/4 client pairs (round trips per second, all pairs) ----
for pairs in 1 2 4; do
	per=$((ITERS / pairs))
	for p in $(seq "$pairs"); do
		bg "ps$pairs$p" 1 "$peer" server --ep $((pairs + p - 1)) --count 0 --nodes 0
		wait_for "ps$pairs$p" ready || die "server not ready"
	done
	base=() ours=() ratios=()
	for r in $(seq "$REPEAT"); do
		t0=$(now)
		cp=()
		for p in $(seq "$pairs"); do
			on 0 "$tcp" pingpong-client "${host[1]}" "$tport" 64 "$per" >"$dir/tp$p.log" 2>&1 &
			cp+=($!)
		done
		for p in "${cp[@]}"; do wait "$p" || die "tcp pair"; done
		base+=("$(rate $((per * pairs)) $(($(now) - t0)))")
		cp=()
		t0=$(now)
		for p in $(seq "$pairs"); do
			# Endpoints 100-212: one set per repeat, so no client waits for its predecessor's unbind.
			VDVK_SOCKET="$dir/n0.sock" on 0 "$peer" client --ep $((100 + (r - 1) * 22 + pairs * 5 + p)) \
				--server $((pairs + p - 1)) --node 1 --count "$per" --nodes 1 >"$dir/pc$p.log" 2>&1 &
			cp+=($!)
		done
		for p in "${cp[@]}"; do wait "$p" || die "vdvk pair: $(cat "$dir"/pc*.log)"; done
		ours+=("$(rate $((per * pairs)) $(($(now) - t0)))")
		ratios+=("$(ratio "${ours[-1]}" "${base[-1]}")")
	done
	report "round trips/s, $pairs client pair(s), 64 B" "" " /s"
	for p in $(seq "$pairs"); do kill "${pids[-$p]}" 2>/dev/null; done
done
read -r steal1 total1 < <(cpu_ticks)
stolen=$(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.0f%%", (t > 0 ? 100 * s / t : 0) }')
echo "vdvk-node-bench: done, load average $(cut -d' ' -f1-3 /proc/loadavg); CPU time stolen by the hypervisor during the run: $stolen"

