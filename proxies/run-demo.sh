#!/bin/sh
# run-demo.sh - start a host-backend for node 0, run vdvk-demo against it,
# stop the backend, and exit with the demo's status.
#
# Usage: run-demo.sh [SOCKET_PATH] [-- vdvk-demo options]
# Finds host-backend and vdvk-demo next to this script, else in $PATH
# (override with $HOST_BACKEND and $VDVK_DEMO).
set -u

here=$(cd "$(dirname "$0")" && pwd)
sock=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then sock=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
[ -n "$sock" ] || sock="${TMPDIR:-/tmp}/vdvk-demo-$$.sock"

find_bin() {
  if [ -x "$here/$1" ]; then echo "$here/$1"; else command -v "$1" || true; fi
}
backend=${HOST_BACKEND:-$(find_bin host-backend)}
demo=${VDVK_DEMO:-$(find_bin vdvk-demo)}
dvkctl=$(find_bin dvkctl)
for b in "$backend" "$demo"; do
  if [ -z "$b" ] || [ ! -x "$b" ]; then
    echo "run-demo.sh: cannot find host-backend and vdvk-demo (build them, or set HOST_BACKEND/VDVK_DEMO)" >&2
    exit 1
  fi
done

rm -f "$sock"
"$backend" --node 0 --socket "$sock" --log-level "${VDVK_LOG_LEVEL:-warn}" &
bpid=$!
stop_backend() {
  if kill -0 "$bpid" 2>/dev/null; then
    kill -TERM "$bpid" 2>/dev/null
    wait "$bpid" 2>/dev/null
  fi
  rm -f "$sock"
}
trap 'stop_backend; exit 130' INT TERM

# Ready means it accepts connections: dvkctl status attaches for real;
# without dvkctl, the socket file appearing is the best we can tell.
export VDVK_SOCKET="$sock"
ready=0
i=0
while [ $i -lt 100 ]; do
  if ! kill -0 "$bpid" 2>/dev/null; then
    echo "run-demo.sh: host-backend exited during start-up" >&2
    wait "$bpid"
    exit 1
  fi
  if [ -n "$dvkctl" ]; then
    "$dvkctl" status >/dev/null 2>&1 && { ready=1; break; }
  elif [ -S "$sock" ]; then
    ready=1; break
  fi
  sleep 0.1
  i=$((i + 1))
done
if [ $ready -ne 1 ]; then
  echo "run-demo.sh: host-backend did not accept connections on $sock within 10 s" >&2
  stop_backend
  exit 1
fi

echo "run-demo.sh: host-backend --node 0 (pid $bpid) serving $sock"
"$demo" "$@"
status=$?
stop_backend
echo "run-demo.sh: host-backend stopped; demo exit status $status"
trap - INT TERM
exit $status
