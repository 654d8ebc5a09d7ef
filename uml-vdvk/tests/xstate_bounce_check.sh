#!/usr/bin/env bash
# Manual check (a cold kernel build, minutes): exercises the bounce path of the
# xstate patch on a host whose XSAVE area fits UML's buffer (no AMX), where a
# normal build never takes it.
#
#   xstate_bounce_check.sh XSTATE_CHECK_PROGRAM
#
# Builds a second kernel (own cache: $VDVK_CACHE_BOUNCE, default
# ~/.cache/vdvk/uml-bounce-test) with tests/xstate-small-fpbuf.test-patch,
# which shrinks UML's FP buffer below the host's XSAVE size, boots it and
# runs xstate_check (printf("%s") + zmm1/zmm31 across syscalls).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=${1:?usage: xstate_bounce_check.sh XSTATE_CHECK_PROGRAM}
cache=${VDVK_CACHE_BOUNCE:-${XDG_CACHE_HOME:-$HOME/.cache}/vdvk/uml-bounce-test}

VDVK_CACHE=$cache "$here/../kernel/build-kernel.sh" \
	--extra-patch "$here/xstate-small-fpbuf.test-patch"
kernel=$cache/linux

opts=()
[[ $prog != /tmp/* ]] || opts=(--host-tmp)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
"$here/../launcher/vdvk-uml" --kernel "$kernel" --verbose "${opts[@]}" -- "$prog" >"$log" 2>&1 || rc=$?
grep -E 'xstate|Linux version' "$log" || true
if ! grep -q 'xstate: host XSAVE area' "$log"; then
	echo "FAIL: the bounce path did not activate (host XSAVE area not larger than UML's?)"
	exit 1
fi
[[ $rc == 0 ]] || { echo "FAIL: xstate_check exited $rc"; tail -20 "$log"; exit 1; }
echo "ok: bounce path active and guest FP state intact"
