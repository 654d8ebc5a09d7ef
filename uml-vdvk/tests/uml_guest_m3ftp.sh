#!/usr/bin/env bash
# m3ftp of a 64 MiB file between two UML guests on one backend (ctest label
# "uml"): the issue's guest <-> guest transfer, unchanged proxies programs.
#
#   uml_guest_m3ftp.sh HOST_BACKEND DVKCTL BIN_DIR [MIB]
#
# Guest 1 (CPU 0) makes a file (1 MiB of /dev/urandom, which is slow in UML,
# repeated at shifting offsets so no two chunks are alike) and serves it with m3ftpd-guest; guest 2
# (CPU 1 when there is one) gets it with m3ftp-guest and puts it back. The
# server is the vcopy caller each time and the client sleeps in its sendrec,
# so every chunk takes the peer-pin path (guest 2's kernel pins the client's
# buffer on the backend's request) and is copied once, between the two
# guests' memory files. Checks: m3ftp's checksums MATCH both ways, sha256 of
# the original, the copy in guest 2 and the file put back agree, cmp in guest 1,
# and the backend's vcopy_zero_copy_bytes grew by both transfers. Prints MB/s.
# Skips (77) without a kernel whose vdvk driver has VDVK_IOC_CALL.
set -uo pipefail

backend=${1:?usage: see header}
dvkctl=${2:?}
bin=$(cd "${3:?}" && pwd) || exit 1
mib=${4:-64}
guest=$bin/m3ftpd-guest
for f in m3ftp-guest m3ftpd-guest; do
	[[ -x $bin/$f ]] || { echo "FAIL: $bin/$f missing"; exit 1; }
done

test_name=uml_guest_m3ftp
# shellcheck source=guest_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/guest_test_lib.sh"

ring=$work/g1.ring
ring2=$work/g2.ring
start_backend "$ring" "$ring2"  # m3ftpd binds system slot 12

before=$(zero_copy)
[[ -n $before ]] || fail "dvkctl status: no vcopy_zero_copy_bytes"

# A file of $mib MiB in tmpfs plus the one put back: room for both and more.
mem=$((3 * mib + 96))M
uml --timeout 240 --mem "$mem" --ring "$ring" -- /bin/sh -c \
	"set -e
	 mkdir \$VDVK_SCRATCH/root
	 head -c 1048576 /dev/urandom >\$VDVK_SCRATCH/seed
	 i=0; while [ \$i -le $mib ]; do echo \$i; cat \$VDVK_SCRATCH/seed; i=\$((i + 1)); done | head -c $((mib << 20)) >\$VDVK_SCRATCH/root/big
	 echo \"sum big \$(sha256sum <\$VDVK_SCRATCH/root/big)\"
	 $bin/m3ftpd-guest --root \$VDVK_SCRATCH/root --ep 12 --transfers 2
	 echo \"sum back \$(sha256sum <\$VDVK_SCRATCH/root/back)\"
	 cmp \$VDVK_SCRATCH/root/big \$VDVK_SCRATCH/root/back && echo 'guest 1: file put back is identical'" \
	>"$work/server.log" 2>&1 &
server=$!
pids+=("$server")

cpu2=()
(($(nproc) > 1)) && cpu2=(--cpu 1)
out=$(uml --timeout 240 --mem "$mem" "${cpu2[@]}" --ring "$ring2" -- /bin/sh -c \
	"set -e
	 $bin/m3ftp-guest --server-ep 12 --ep 43 --wait-ms 120000 get big \$VDVK_SCRATCH/got
	 echo \"sum got \$(sha256sum <\$VDVK_SCRATCH/got)\"
	 $bin/m3ftp-guest --server-ep 12 --ep 44 --wait-ms 10000 put \$VDVK_SCRATCH/got back" 2>&1)
rc=$?
echo "$out"
wait "$server"
src=$?
cat "$work/server.log"
[[ $rc == 0 ]] || fail "client guest exited $rc"
[[ $src == 0 ]] || fail "server guest exited $src"
[[ $(grep -c ' MATCH$' <<<"$out") == 2 ]] || fail "m3ftp get + put did not both say MATCH"
sum_big=$(sed -n 's/^sum big \([0-9a-f]*\).*/\1/p' "$work/server.log")
sum_back=$(sed -n 's/^sum back \([0-9a-f]*\).*/\1/p' "$work/server.log")
sum_got=$(sed -n 's/^sum got \([0-9a-f]*\).*/\1/p' <<<"$out")
[[ -n $sum_big && $sum_big == "$sum_got" && $sum_big == "$sum_back" ]] ||
	fail "sha256 differ: big '$sum_big' got '$sum_got' back '$sum_back'"
grep -q 'file put back is identical' "$work/server.log" || fail "no cmp result from guest 1"
! grep -Eqi 'oops|bug:|panic|call trace' <<<"$out$(cat "$work/server.log")" || fail "kernel trouble in a guest"
after=$(zero_copy)
moved=$((2 * (mib << 20)))
((after - before >= moved)) || fail "vcopy_zero_copy_bytes grew by $((after - before)), want >= $moved"
echo "ok: ${mib} MiB m3ftp get + put between two guests, sha256 $sum_big,"
echo "    zero-copy bytes +$((after - before)) (>= $moved)"
backend_ok
