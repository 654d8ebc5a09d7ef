#!/usr/bin/env bash
# The proxies/ test programs, built unchanged against libdvk_guest
# (bin/NAME-guest), run inside a UML guest against host-native peers
# (ctest label "uml").
#
#   uml_guest_proxies.sh HOST_BACKEND BIN_DIR
#
# BIN_DIR holds the host tools (latency_server, m3ftp, copy_client) and the
# guest builds (latency_client-guest, m3ftpd-guest, copy_server-guest).
# One guest boot runs, in order:
#   latency_client-guest: 1000 sendrecs to the host's latency_server (every
#                         reply checked by the program)
#   m3ftpd-guest:         serves an 8 MiB random file from the guest's /tmp;
#                         the host's m3ftp gets it, then puts it back under
#                         another name (checksums compared by m3ftp: MATCH),
#                         and the guest compares the two files with cmp
#   copy_server-guest:    serves the host's copy_client, 1 MiB copies both ways
#                         with every byte checked by copy_client
# Skips (77) without a kernel whose vdvk driver has VDVK_IOC_CALL.
set -uo pipefail

backend=${1:?usage: see header}
bin=$(cd "${2:?}" && pwd) || exit 1
guest=$bin/m3ftpd-guest
for f in latency_server m3ftp copy_client latency_client-guest m3ftpd-guest copy_server-guest; do
	[[ -x $bin/$f ]] || { echo "FAIL: $bin/$f missing"; exit 1; }
done

test_name=uml_guest_proxies
# shellcheck source=guest_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/guest_test_lib.sh"

ring=$work/g1.ring
# The guest's servers bind system slots (m3ftpd 12, copy_server 10).
start_backend "$ring"

"$bin/latency_server" --ep 11 --count 1000 >"$work/lat.log" 2>&1 &
lat_pid=$!
pids+=("$lat_pid")
# The host's clients of the guest's servers wait (--wait-ms) until the guest
# program has bound its endpoint.
(
	"$bin/m3ftp" --server-ep 12 --ep 43 --wait-ms 120000 get big "$work/got" &&
		"$bin/m3ftp" --server-ep 12 --ep 44 --wait-ms 10000 put "$work/got" back
) >"$work/ftp.log" 2>&1 &
ftp_pid=$!
pids+=("$ftp_pid")
"$bin/copy_client" --server-ep 10 --ep 45 --size 1M --loops 20 --wait-ms 120000 >"$work/copy.log" 2>&1 &
copy_pid=$!
pids+=("$copy_pid")

out=$(uml --timeout 240 --ring "$ring" -- /bin/sh -c \
	"set -e
	 $bin/latency_client-guest --server-ep 11 --ep 42 --loops 1000
	 mkdir \$VDVK_SCRATCH/root
	 head -c 8388608 /dev/urandom >\$VDVK_SCRATCH/root/big
	 $bin/m3ftpd-guest --root \$VDVK_SCRATCH/root --ep 12 --transfers 2
	 cmp \$VDVK_SCRATCH/root/big \$VDVK_SCRATCH/root/back && echo 'guest: file put back by the host is identical'
	 $bin/copy_server-guest --ep 10 --count 40" 2>&1)
rc=$?
echo "$out"
[[ $rc == 0 ]] || fail "guest exited $rc"
grep -q 'latency_client-guest: 1000 round trips verified' <<<"$out" || fail "no latency_client-guest summary"
grep -q 'file put back by the host is identical' <<<"$out" || fail "no cmp result from the guest"
wait "$lat_pid" || fail "host latency_server exited $?: $(cat "$work/lat.log")"
wait "$ftp_pid" || fail "host m3ftp exited $?: $(cat "$work/ftp.log")"
cat "$work/ftp.log"
[[ $(grep -c ' MATCH$' "$work/ftp.log") == 2 ]] || fail "m3ftp get + put did not both say MATCH"
wait "$copy_pid" || fail "host copy_client exited $?: $(cat "$work/copy.log")"
cat "$work/copy.log"
[[ $(grep -c 'verified' "$work/copy.log") == 2 ]] || fail "copy_client did not verify both directions"
echo "ok: latency_client-guest, m3ftpd-guest (8 MiB get + put, MATCH, cmp) and"
echo "    copy_server-guest (1 MiB both ways) work unchanged against host-native peers"
backend_ok
