#!/bin/sh
# run_with_backend.sh HOST_BACKEND PROGRAM [ARGS...]
# Starts HOST_BACKEND on a private temp socket, runs PROGRAM with VDVK_SOCKET
# pointing at it, stops the backend, and exits with PROGRAM's status.
set -u
backend=$1
shift
dir=$(mktemp -d /tmp/vdvk-ctest-XXXXXX) || exit 2
sock=$dir/node0.sock
"$backend" --node 0 --socket "$sock" --log-level warn &
bpid=$!
cleanup() {
	kill "$bpid" 2>/dev/null
	wait "$bpid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	if [ $i -gt 500 ] || ! kill -0 "$bpid" 2>/dev/null; then
		echo "run_with_backend: host-backend did not start on $sock" >&2
		exit 2
	fi
	sleep 0.01
done
sleep 0.05 # bind() creates the file just before listen()
VDVK_SOCKET=$sock "$@"
